"""Adapters behind the revocation service's ports: MongoDB for real, in memory for tests."""
