"""Who owns which credential and its status, built from the log; revocation claims on it.

One document per credential. Events are applied once each (``applied_events``); a revocation
requested over HTTP first *claims* the transition with one conditional update that also marks
its event id as applied, so two replicas racing on one credential publish one event, and the
service's own event coming back from the log is a no-op.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.lifecycle import ACTIVE, REVOKED, SUSPENDED, next_status
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.storage import MongoIdempotentCollection, index
from credreg_shared.storage.client import Document
from credreg_shared.storage.idempotency import APPLIED_EVENTS_FIELD

COLLECTION = "credentials"
INDEXES = [index(COLLECTION, ("issuer_id", 1))]
REVOCABLE = (ACTIVE, SUSPENDED)


class OwnershipView:
    """The revocation service's own view of credentials."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[COLLECTION]
        self.events = MongoIdempotentCollection(self.collection)

    async def get(self, credential_id: str) -> Document | None:
        """One credential's ownership record, or None."""
        return await self.collection.find_one({"_id": credential_id})

    async def claim_revocation(
        self, credential_id: str, issuer_id: str, event_id: str
    ) -> Document | None:
        """Atomically move an owned, revocable credential to revoked; the old record or None."""
        return await self.collection.find_one_and_update(
            {"_id": credential_id, "issuer_id": issuer_id, "status": {"$in": list(REVOCABLE)}},
            {
                "$set": {"status": REVOKED, "claimed_by": event_id},
                "$addToSet": {APPLIED_EVENTS_FIELD: event_id},
            },
            return_document=ReturnDocument.BEFORE,
        )

    async def release_claim(self, credential_id: str, event_id: str, status: str) -> None:
        """Undo a claim whose event could not be published."""
        await self.collection.update_one(
            {"_id": credential_id, "claimed_by": event_id},
            {
                "$set": {"status": status},
                "$unset": {"claimed_by": ""},
                "$pull": {APPLIED_EVENTS_FIELD: event_id},
            },
        )

    async def on_issued(self, envelope: Envelope) -> None:
        """A credential exists: remember its issuer and holder."""
        event = envelope.data_as(models.CredentialIssued)
        update: dict[str, Any] = {
            "$set": {"issuer_id": event.issuer_id, "holder_id": event.holder_id},
            "$setOnInsert": {"status": ACTIVE},
        }
        await self.events.apply_once(event.credential_id, envelope.id, update)

    async def on_status_event(self, envelope: Envelope) -> None:
        """Revoked, suspended, reinstated, expired: follow the lifecycle rules."""
        event = envelope.data_as(models.CredentialEvent)
        existing = await self.get(event.credential_id)
        status = next_status(existing.get("status") if existing else None, event)
        fields: dict[str, Any] = {"issuer_id": event.issuer_id, "holder_id": event.holder_id}
        if status is not None:
            fields["status"] = status
        await self.events.apply_once(event.credential_id, envelope.id, {"$set": fields})

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """The event → handler table."""
        registry.register(models.CredentialIssued, self.on_issued)
        for kind in (
            models.CredentialRevoked,
            models.CredentialSuspended,
            models.CredentialReinstated,
            models.CredentialExpired,
        ):
            registry.register(kind, self.on_status_event)
        return registry
