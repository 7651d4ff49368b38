"""The registry's ports: reading the credential view, and the view the projection writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from credreg_registry.domain import CredentialSummary, CredentialView
from credreg_shared.storage.ports import IdempotentCollection


class CredentialReader(Protocol):
    """Reads issued credentials from the view (placeholders awaiting ``issued`` stay hidden)."""

    async def credential(self, credential_id: str) -> CredentialView | None:
        """One issued credential, or None."""
        ...

    async def holder_credentials(self, holder_id: str) -> list[CredentialSummary]:
        """A holder's issued credentials, oldest first (by ``valid_from``, then id)."""
        ...

    async def count_by_status(self) -> dict[str, int]:
        """How many issued credentials have each lifecycle status (every status listed)."""
        ...

    async def count_awaiting_issuance(self) -> int:
        """How many placeholders wait for their credential's ``issued`` event."""
        ...


@dataclass(frozen=True)
class Adapters:
    """What the registry's use cases and projection need: the view, to read and to write."""

    reader: CredentialReader
    view: IdempotentCollection
