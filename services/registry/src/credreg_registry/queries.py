"""Read side of the registry: credentials and portfolios as the API shows them."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from credreg_shared.events.lifecycle import STATUSES
from credreg_shared.storage import index
from credreg_shared.storage.client import Document

VIEW = "credentials"
INDEXES = [index(VIEW, ("holder_id", 1)), index(VIEW, ("issuer_id", 1)), index(VIEW, ("status", 1))]


def public_view(document: Document) -> dict[str, Any]:
    """A view document as the API answers it (bookkeeping fields left out)."""
    hidden = {"_id", "applied_events", "issued"}
    return {"id": document["_id"], **{k: v for k, v in document.items() if k not in hidden}}


def summary(document: Document) -> dict[str, Any]:
    """The portfolio line of one credential."""
    achievement = document.get("achievement") or {}
    return {
        "id": document["_id"],
        "status": document.get("status"),
        "issuer_id": document.get("issuer_id"),
        "achievement_name": achievement.get("name"),
        "valid_from": document.get("valid_from"),
        "valid_until": document.get("valid_until"),
    }


class CredentialQueries:
    """Queries over the registry's view collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.view = db[VIEW]

    async def credential(self, credential_id: str) -> dict[str, Any] | None:
        """One issued credential with its current status, or None."""
        found = await self.view.find_one({"_id": credential_id, "issued": True})
        return public_view(found) if found else None

    async def portfolio(self, holder_id: str) -> list[dict[str, Any]]:
        """Every issued credential of a holder, oldest first."""
        cursor = self.view.find({"holder_id": holder_id, "issued": True}).sort("valid_from", 1)
        return [summary(document) async for document in cursor]

    async def counts(self) -> dict[str, Any]:
        """How many issued credentials the view holds, in all and by status."""
        by_status = {
            status: await self.view.count_documents({"issued": True, "status": status})
            for status in STATUSES
        }
        return {"credentials": sum(by_status.values()), "by_status": by_status}
