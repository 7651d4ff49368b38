"""Adapters behind the revocation service's port: MongoDB for real, in memory for tests."""
