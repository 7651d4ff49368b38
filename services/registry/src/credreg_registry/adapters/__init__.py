"""Adapters behind the registry's ports: the MongoDB view and its in-memory stand-in."""
