"""API keys that a service keeps beside its settings' keys (no web framework here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeptApiKey:
    """An API key a service keeps (by digest): whose, what for, and whether it was revoked."""

    institution: str
    scopes: frozenset[str]
    revoked: bool = False
