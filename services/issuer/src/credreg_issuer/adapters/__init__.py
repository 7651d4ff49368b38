"""Adapters behind the issuer's ports: MongoDB and in-memory idempotency records."""
