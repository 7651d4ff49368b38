"""Adapters behind the issuer's ports: MongoDB (`mongo`) and in-memory fakes (`fakes`)."""
