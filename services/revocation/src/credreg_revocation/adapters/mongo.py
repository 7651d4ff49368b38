"""The ownership view in the service's own MongoDB database: one document per credential.

A document carries the effect and its proof together: ``status`` and the ids of the events
already applied to it (``applied_events``), changed in one single-document update, so a
redelivered event, or this service's own event coming back from the log, changes nothing.
PyMongo's outages leave this module as `StorageUnavailable` (``@storage_adapter``).
"""

from __future__ import annotations

import contextlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_revocation.domain import CredentialRecord
from credreg_revocation.expiry import Announcement
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.events.lifecycle import ACTIVE
from credreg_shared.storage import (
    APPLIED_EVENTS_FIELD,
    DeferredDeletes,
    Document,
    EffectOutcome,
    MongoIdempotentCollection,
    index,
    storage_adapter,
)

REMEMBERED_CLAIMS = 10_000
COLLECTION = "credentials"
PENDING = "outbox_pending"
CLAIM_FIELD = "claimed_by"
OUTBOX_FIELD = "outbox"
CHANGES_FIELD = "changes"
ANNOUNCED_FIELD = "announced"
INDEXES = [index(COLLECTION, ("issuer_id", 1))]


@storage_adapter
class MongoCredentialRepository:
    """`CredentialRepository` over the ``credentials`` collection; outages: `StorageUnavailable`."""

    def __init__(self, db: AsyncDatabase[Document], *, gather_marker_deletes: int = 1) -> None:
        self.collection: AsyncCollection[Document] = db[COLLECTION]
        self.markers: AsyncCollection[Document] = db[PENDING]
        self.claimed_here: OrderedDict[str, str] = OrderedDict()
        """Event ids of the changes this process claimed (the last `REMEMBERED_CLAIMS`): when
        the consumer reads one back from the log, it is applied already."""
        self.published_markers = DeferredDeletes(self.markers, batch=gather_marker_deletes)
        """Markers of published events, dropped a batch at a time (one lingering is tidied by
        the relay: it finds the outbox empty)."""
        self._once = MongoIdempotentCollection(self.collection)

    async def get(self, credential_id: str) -> CredentialRecord | None:
        """One credential's record, or None when the view does not know it."""
        found = await self.collection.find_one({"_id": credential_id})
        return as_record(found) if found is not None else None

    async def get_many(self, credential_ids: Sequence[str]) -> dict[str, CredentialRecord]:
        """The records of those credentials the view knows, by id."""
        found = self.collection.find({"_id": {"$in": list(credential_ids)}})
        return {str(d["_id"]): as_record(d) async for d in found}

    async def record_issued(
        self,
        credential_id: str,
        *,
        issuer_id: str,
        holder_id: str,
        event_id: str,
        valid_until: datetime | None = None,
        achievement_id: str | None = None,
    ) -> bool:
        """Remember an issued credential (active unless a later status is known); False if seen."""
        fields: Document = {"issuer_id": issuer_id, "holder_id": holder_id}
        if valid_until is not None:
            fields["valid_until"] = valid_until
        if achievement_id is not None:
            fields["achievement_id"] = achievement_id
        outcome = await self._once.apply_once(
            credential_id, event_id, {"$set": fields, "$setOnInsert": {"status": ACTIVE}}
        )
        return outcome is EffectOutcome.APPLIED

    async def record_announced(self, credential_id: str, *, kind: str, event_id: str) -> None:
        """Note an expiry notice read from the log (a replay must not announce it again)."""
        await self.collection.update_one(
            {"_id": credential_id, APPLIED_EVENTS_FIELD: {"$ne": event_id}},
            {"$addToSet": {ANNOUNCED_FIELD: kind, APPLIED_EVENTS_FIELD: event_id}},
        )

    async def announce(self, claims: Sequence[Announcement]) -> None:
        """Claim each notice that is not announced yet, from its sources, with no outbox."""
        if not claims:
            return
        updates = []
        for claim in claims:
            changes: Document = {
                "$addToSet": {ANNOUNCED_FIELD: claim.kind, APPLIED_EVENTS_FIELD: claim.event_id}
            }
            if claim.status is not None:
                changes["$set"] = {"status": claim.status}
            condition = {
                "_id": claim.credential_id,
                "status": {"$in": sorted(claim.sources)},
                ANNOUNCED_FIELD: {"$ne": claim.kind},
                # A change whose event is still in the outbox goes first: its undo would
                # otherwise set the status back over this one.
                OUTBOX_FIELD: None,
            }
            updates.append(UpdateOne(condition, changes))
        await self.collection.bulk_write(updates, ordered=False)

    async def record_status(
        self,
        credential_id: str,
        *,
        issuer_id: str,
        holder_id: str,
        event_id: str,
        status: str,
        sources: frozenset[str],
    ) -> bool:
        """Move to `status` if now in one of `sources`; the event is marked applied either way."""
        # This service's own changes come back from the log applied already (their claim
        # marked them): this process's own claims it remembers; for the others one read says
        # so, instead of three writes that each find nothing to do.
        if self.claimed_here.pop(event_id, None) is not None:
            return False
        applied = {"_id": credential_id, APPLIED_EVENTS_FIELD: event_id}
        if await self.collection.find_one(applied, {"_id": 1}) is not None:
            return False
        not_applied = {"_id": credential_id, APPLIED_EVENTS_FIELD: {"$ne": event_id}}
        moved = await self.collection.update_one(
            {**not_applied, "status": {"$in": sorted(sources)}},
            {
                "$set": {"status": status},
                "$addToSet": {APPLIED_EVENTS_FIELD: event_id},
                # Counted as a change: a view rebuilt from the log derives later ids past it.
                "$inc": {CHANGES_FIELD: 1},
            },
        )
        if moved.matched_count:
            return True
        try:
            # A status event before its issuance (a log replayed from a later offset).
            await self.collection.insert_one(
                {
                    "_id": credential_id,
                    "issuer_id": issuer_id,
                    "holder_id": holder_id,
                    "status": status,
                    APPLIED_EVENTS_FIELD: [event_id],
                    CHANGES_FIELD: 1,
                }
            )
            return True
        except DuplicateKeyError:
            pass
        # The credential's status rules the event out (e.g. suspended after revoked): only mark.
        marked = await self.collection.update_one(
            not_applied,
            {"$addToSet": {APPLIED_EVENTS_FIELD: event_id}, "$inc": {CHANGES_FIELD: 1}},
        )
        return marked.matched_count == 1

    async def claim(
        self,
        credential_id: str,
        *,
        issuer_id: str,
        event_id: str,
        status: str,
        sources: frozenset[str],
        outbox: KafkaRecord | None = None,
        superseded_by: str | None = None,
        changes: int | None = None,
    ) -> CredentialRecord | None:
        """Atomically move an owned credential from `sources` to `status`, its event in the
        outbox of the same document; the record before."""
        update: Document = {"status": status, CLAIM_FIELD: event_id}
        if outbox is not None:
            update[OUTBOX_FIELD] = _outbox_document(event_id, outbox)
        if superseded_by is not None:
            update["superseded_by"] = superseded_by
        before = await self.collection.find_one_and_update(
            {
                "_id": credential_id,
                "issuer_id": issuer_id,
                "status": {"$in": sorted(sources)},
                # An earlier change whose event is still in the outbox goes out first.
                OUTBOX_FIELD: None,
                **_changes_so_far(changes),
            },
            {
                "$set": update,
                "$addToSet": {APPLIED_EVENTS_FIELD: event_id},
                "$inc": {CHANGES_FIELD: 1},
            },
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return None
        self.claimed_here[event_id] = credential_id
        while len(self.claimed_here) > REMEMBERED_CLAIMS:
            self.claimed_here.popitem(last=False)
        return as_record(before)

    async def release(self, credential_id: str, *, event_id: str, status: str) -> bool:
        """Undo the claim made with `event_id` (back to `status`); False if it is not there."""
        # Forgetting the event id too: should the broker have stored the event after all,
        # the consumer then applies it when it arrives, and the view follows the log.
        self.claimed_here.pop(event_id, None)
        undone = await self.collection.update_one(
            {"_id": credential_id, CLAIM_FIELD: event_id},
            {
                "$set": {"status": status},
                "$unset": {CLAIM_FIELD: "", OUTBOX_FIELD: ""},
                "$pull": {APPLIED_EVENTS_FIELD: event_id},
                "$inc": {CHANGES_FIELD: -1},
            },
        )
        await self.markers.delete_one({"_id": event_id})
        return undone.matched_count == 1

    async def mark_pending(self, credential_id: str, *, event_id: str, at: datetime) -> None:
        """Note, before claiming, that `credential_id` may get an outbox event `event_id`."""
        # Keyed by the event, which is derived from the change: concurrent requests for one
        # change share one marker (the first keeps it).
        with contextlib.suppress(DuplicateKeyError):
            await self.markers.insert_one(
                {"_id": event_id, "credential_id": credential_id, "at": at}
            )

    async def forget_pending(self, credential_id: str, *, event_id: str) -> None:
        """Drop the marker of a claim that did not happen, unless the outbox holds its event."""
        found = await self.collection.find_one({"_id": credential_id}, {OUTBOX_FIELD: 1})
        kept = found.get(OUTBOX_FIELD) if found else None
        if kept and kept.get("event_id") == event_id:
            return
        await self.markers.delete_one({"_id": event_id})

    async def pending(self, *, before: datetime) -> list[tuple[str, str]]:
        """(credential id, event id) of the markers written before `before` (a handful: only
        the claims whose event the broker has not confirmed)."""
        found = self.markers.find({"at": {"$lt": before}})
        return [(str(d["credential_id"]), str(d["_id"])) async for d in found]

    async def outbox(self, credential_id: str) -> tuple[str, KafkaRecord] | None:
        """The credential's outbox event (event id, record), if one waits for the broker."""
        found = await self.collection.find_one({"_id": credential_id}, {OUTBOX_FIELD: 1})
        kept = found.get(OUTBOX_FIELD) if found else None
        if not kept:
            return None
        headers = [(str(name), value.encode()) for name, value in json.loads(kept["headers"])]
        return str(kept["event_id"]), KafkaRecord(bytes(kept["key"]), bytes(kept["value"]), headers)

    async def published(self, credential_id: str, *, event_id: str) -> None:
        """The broker has event `event_id`: drop it from the outbox, and its marker."""
        await self.collection.update_one(
            {"_id": credential_id, f"{OUTBOX_FIELD}.event_id": event_id},
            {"$unset": {OUTBOX_FIELD: ""}},
        )
        await self.published_markers.add(event_id)


def _changes_so_far(changes: int | None) -> Document:
    # Documents from before the count have none: they count as 0 (null matches a missing field).
    if changes is None:
        return {}
    return {CHANGES_FIELD: {"$in": [0, None]}} if changes == 0 else {CHANGES_FIELD: changes}


def _outbox_document(event_id: str, record: KafkaRecord) -> Document:
    # Headers as one JSON text (they are ASCII): FerretDB 1.x stores no nested arrays.
    headers = json.dumps([[name, value.decode()] for name, value in record.headers])
    return {"event_id": event_id, "key": record.key, "value": record.value, "headers": headers}


def _aware(moment: datetime | None) -> datetime | None:
    # BSON keeps UTC without a zone: a client that is not tz-aware reads naive datetimes.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def as_record(document: Document) -> CredentialRecord:
    """The domain record of a view document."""
    valid_until = document.get("valid_until")
    return CredentialRecord(
        credential_id=str(document["_id"]),
        issuer_id=str(document["issuer_id"]),
        holder_id=str(document["holder_id"]),
        status=str(document["status"]),
        valid_until=_aware(valid_until),
        achievement_id=document.get("achievement_id"),
        announced=frozenset(document.get(ANNOUNCED_FIELD, ())),
        busy=bool(document.get(OUTBOX_FIELD)),
        superseded_by=document.get("superseded_by"),
        changes=int(document.get(CHANGES_FIELD) or 0),
    )
