"""The credential view in the registry's MongoDB database: collection, indexes, reader."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from credreg_registry.domain import (
    ISSUED_FLAG,
    CredentialSummary,
    CredentialView,
    credential_view,
    summary,
)
from credreg_shared.events.lifecycle import STATUSES
from credreg_shared.storage import (
    Document,
    MongoIdempotentCollection,
    index,
    storage_adapter,
)

VIEW = "credentials"
INDEXES = [
    index(VIEW, "holder_id", "valid_from"),
    index(VIEW, "issuer_id"),
    index(VIEW, "status"),
]


def view_writer(db: AsyncDatabase[Document]) -> MongoIdempotentCollection:
    """The view collection as the projection writes it (once per event)."""
    return MongoIdempotentCollection(db[VIEW])


@storage_adapter
class MongoCredentialReader:
    """``CredentialReader`` over the view collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.view = db[VIEW]

    async def credential(self, credential_id: str) -> CredentialView | None:
        """One issued credential, or None."""
        found = await self.view.find_one({"_id": credential_id, ISSUED_FLAG: True})
        return credential_view(found) if found is not None else None

    async def holder_credentials(self, holder_id: str) -> list[CredentialSummary]:
        """A holder's issued credentials, oldest first (by ``valid_from``, then id)."""
        cursor = self.view.find({"holder_id": holder_id, ISSUED_FLAG: True}).sort(
            [("valid_from", 1), ("_id", 1)]
        )
        return [summary(document) async for document in cursor]

    async def count_by_status(self) -> dict[str, int]:
        """How many issued credentials have each lifecycle status (every status listed)."""
        # count_documents per status: FerretDB's $group knows only $sum/$count, and this is
        # as cheap with the status index.
        return {
            status: await self.view.count_documents({ISSUED_FLAG: True, "status": status})
            for status in STATUSES
        }

    async def count_awaiting_issuance(self) -> int:
        """How many placeholders wait for their credential's ``issued`` event."""
        return await self.view.count_documents({ISSUED_FLAG: {"$ne": True}})
