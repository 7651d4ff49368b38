"""An in-memory ``CredentialReader`` over the documents of an in-memory view, for unit tests."""

from __future__ import annotations

import copy

from credreg_registry.domain import (
    ISSUED_FLAG,
    CredentialSummary,
    CredentialView,
    credential_view,
    summary,
)
from credreg_shared.events.lifecycle import STATUSES
from credreg_shared.storage.fakes import InMemoryIdempotentCollection
from credreg_shared.storage.ports import Document


class InMemoryCredentialReader:
    """Reads what a `CredentialProjection` wrote into an ``InMemoryIdempotentCollection``."""

    def __init__(self, view: InMemoryIdempotentCollection) -> None:
        self.view = view

    def _issued(self) -> list[Document]:
        return [copy.deepcopy(d) for d in self.view.documents.values() if d.get(ISSUED_FLAG)]

    async def credential(self, credential_id: str) -> CredentialView | None:
        """One issued credential, or None."""
        found = next((d for d in self._issued() if d["_id"] == credential_id), None)
        return credential_view(found) if found is not None else None

    async def holder_credentials(self, holder_id: str) -> list[CredentialSummary]:
        """A holder's issued credentials, oldest first (by ``valid_from``, then id)."""
        mine = [d for d in self._issued() if d.get("holder_id") == holder_id]
        return [summary(d) for d in sorted(mine, key=lambda d: (d["valid_from"], d["_id"]))]

    async def count_by_status(self) -> dict[str, int]:
        """How many issued credentials have each lifecycle status (every status listed)."""
        issued = self._issued()
        return {status: sum(d.get("status") == status for d in issued) for status in STATUSES}

    async def count_awaiting_issuance(self) -> int:
        """How many placeholders wait for their credential's ``issued`` event."""
        return sum(not d.get(ISSUED_FLAG) for d in self.view.documents.values())
