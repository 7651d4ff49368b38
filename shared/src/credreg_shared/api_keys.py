"""API keys that a service keeps beside its settings' keys (no web framework, no driver here):
what a kept key says, the port of the keys other services learn from the log
(`credreg.institutions`: digest and scopes, never the key), its in-memory fake, and the
projection that keeps them current. The MongoDB adapter is `credreg_shared.kept_keys`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Protocol

from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging.handlers import HandlerRegistry


@dataclass(frozen=True)
class KeptApiKey:
    """An API key a service keeps (by digest): whose, what for, and whether it was revoked."""

    institution: str
    scopes: frozenset[str]
    revoked: bool = False


class InstitutionKeys(Protocol):
    """Institutions' API keys as announced on the log (by digest); single-document upserts."""

    async def issued(self, digest: str, key: KeptApiKey) -> None:
        """Remember a key (unless it is revoked already)."""
        ...

    async def revoked(self, digest: str, institution: str) -> None:
        """Mark a key revoked, for good."""
        ...

    async def find(self, digest: str) -> KeptApiKey | None:
        """A key by its digest."""
        ...


class InMemoryInstitutionKeys:
    """`InstitutionKeys` in memory."""

    def __init__(self) -> None:
        self.keys: dict[str, KeptApiKey] = {}

    async def issued(self, digest: str, key: KeptApiKey) -> None:
        """Remember a key (unless it is revoked already)."""
        await asyncio.sleep(0)
        self.keys.setdefault(digest, key)

    async def revoked(self, digest: str, institution: str) -> None:
        """Mark a key revoked, for good."""
        await asyncio.sleep(0)
        found = self.keys.get(digest, KeptApiKey(institution=institution, scopes=frozenset()))
        self.keys[digest] = replace(found, revoked=True)

    async def find(self, digest: str) -> KeptApiKey | None:
        """A key by its digest."""
        await asyncio.sleep(0)
        return self.keys.get(digest)


class InstitutionKeysProjection:
    """Follows institutions' API keys on the log, so that keys kept by the issuer work here."""

    def __init__(self, keys: InstitutionKeys) -> None:
        self.keys = keys

    async def on_issued(self, envelope: Envelope) -> None:
        """A key exists with these scopes."""
        event = envelope.data_as(models.ApiKeyIssued)
        await self.keys.issued(
            event.digest,
            KeptApiKey(institution=event.institution_id, scopes=frozenset(event.scopes)),
        )

    async def on_revoked(self, envelope: Envelope) -> None:
        """A key is revoked: refused from now on."""
        event = envelope.data_as(models.ApiKeyRevoked)
        await self.keys.revoked(event.digest, event.institution_id)

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """API-key events, on the institutions topic."""
        registry.register(models.ApiKeyIssued, self.on_issued)
        registry.register(models.ApiKeyRevoked, self.on_revoked)
        return registry


class KeptKeys:
    """The use case behind a service's API-key lookups: the keys the log announced (none with
    fakes that bring no keys)."""

    def __init__(self, keys: InstitutionKeys | None) -> None:
        self.keys = keys

    async def find(self, digest: str) -> KeptApiKey | None:
        """The key with this SHA-256 digest (hex), if the log announced it."""
        return await self.keys.find(digest) if self.keys is not None else None
