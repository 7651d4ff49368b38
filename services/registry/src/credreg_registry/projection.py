"""Projects credential lifecycle events into the registry's view, a consumed batch at a time.

`fold` is the whole rule, pure: from what the batch read (`ViewSnapshot`) and the batch's events,
what to write (`ViewChanges`). `CredentialProjection.apply` reads, folds and writes, once per
batch: one read and one bulk write per collection instead of round trips per event.

Exactly once: an event whose id a credential document already lists in ``applied_events`` is
skipped, and the document's update lists the new ids in the same single-document write. Counts
move only for events past the partition's counted offset (compare-and-set), and are written
*before* the credential documents: a crash in between leaves the documents unchanged, so the
redelivered batch folds to the same documents and does not count again. Portfolio and search
entries are derived from the documents and rewritten for every credential the batch touches, so
a crash after the documents and before the entries is mended by the redelivery.

Order: Kafka keeps one credential's events in order (key = credential id), the batch folds them
in that order, and the shared lifecycle rules (``next_status``) only let a status move forward
(reinstatement lifts a suspension only). A lifecycle event that comes before the credential's
``issued`` event leaves a *placeholder* (no ``issued`` flag, hidden from the API); the later
``issued`` event completes it without resetting its status.

Every time stored comes from the event (``envelope.time``), never the clock, so replaying the
log into an empty view rebuilds the very same documents.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence

from credreg_registry.domain import ISSUED_FLAG, competency_keys
from credreg_registry.layout import (
    PORTFOLIO_BUCKET_SIZE,
    PORTFOLIOS,
    POSTING_BUCKET_SIZE,
    POSTINGS,
    CounterChange,
    CredentialChange,
    Tail,
    ViewChanges,
    ViewSnapshot,
    counted_as,
    entry_key,
    summary_entry,
)
from credreg_registry.ports import ViewStore
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.lifecycle import ACTIVE, next_status
from credreg_shared.messaging.handlers import ConsumedEvent, HandlerRegistry
from credreg_shared.storage.ports import APPLIED_EVENTS_FIELD, Document

log = logging.getLogger(__name__)

EVENTS: tuple[type[models.CredentialEvent], ...] = (
    models.CredentialIssued,
    models.CredentialRevoked,
    models.CredentialSuspended,
    models.CredentialReinstated,
    models.CredentialExpired,
    models.CredentialExpiring,
)
_MODELS = {event.event_type: event for event in EVENTS}


def counter_id(event: ConsumedEvent) -> str:
    """The counters document of the partition an event was read from."""
    return f"{event.topic}:{event.partition}"


def event_data(envelope: Envelope) -> models.CredentialEvent:
    """The envelope's data as its credential event model."""
    return envelope.data_as(_MODELS[envelope.type])


def apply_event(
    document: Document | None, event: models.CredentialEvent, envelope: Envelope
) -> Document:
    """The credential document after one event (a new dict; `document` is left as it was)."""
    result: Document = (
        copy.deepcopy(document)
        if document is not None
        else {"_id": event.credential_id, APPLIED_EVENTS_FIELD: []}
    )
    result.setdefault("issuer_id", event.issuer_id)
    result.setdefault("holder_id", event.holder_id)
    current = result.get("status")
    match event:
        case models.CredentialIssued():
            result.update(issued_fields(event, envelope))
        case models.CredentialExpiring():
            result["expiring"] = {"valid_until": event.valid_until, "noticed_at": envelope.time}
        case _:
            target = next_status(current, event)
            if target is not None and target != current:
                result["status"] = target
                result.update(status_details(event, envelope))
                if isinstance(event, models.CredentialReinstated):
                    result.pop("suspension", None)
    result.setdefault("status", ACTIVE)
    previous = result.get("updated_at")
    result["updated_at"] = envelope.time if previous is None else max(previous, envelope.time)
    result[APPLIED_EVENTS_FIELD] = [*result[APPLIED_EVENTS_FIELD], envelope.id]
    return result


def issued_fields(event: models.CredentialIssued, envelope: Envelope) -> Document:
    """What an issued event writes: the credential in full (never the status)."""
    return {
        "issuer_id": event.issuer_id,
        "holder_id": event.holder_id,
        "achievement": {
            "id": event.achievement_id,
            "name": event.achievement_name,
            "type": event.achievement_type,
            "competencies": [c.model_dump(exclude_none=True) for c in event.competencies],
        },
        "valid_from": event.valid_from,
        "valid_until": event.valid_until,
        "credential": event.credential,
        "issued_at": envelope.time,
        ISSUED_FLAG: True,
    }


def status_details(event: models.CredentialEvent, envelope: Envelope) -> Document:
    """The fields that record why and when the status changed."""
    match event:
        case models.CredentialRevoked():
            return {
                "revocation": {
                    "reason": event.reason,
                    "superseded_by": event.superseded_by,
                    "revoked_at": envelope.time,
                }
            }
        case models.CredentialSuspended():
            return {"suspension": {"reason": event.reason, "suspended_at": envelope.time}}
        case models.CredentialReinstated():
            return {"reinstated_at": envelope.time}
        case models.CredentialExpired():
            return {"expired_at": envelope.time}
    raise TypeError(f"{type(event).__name__} is not a status event")


def fold(snapshot: ViewSnapshot, events: Sequence[ConsumedEvent]) -> ViewChanges:
    """What a batch of events writes into the view, given what the view held before it."""
    documents: dict[str, Document] = {}
    new_events: dict[str, list[str]] = defaultdict(list)
    deltas: dict[str, Counter[str]] = defaultdict(Counter)
    last_offsets: dict[str, int] = {}
    for consumed in events:
        envelope = consumed.envelope
        event = event_data(envelope)
        credential_id = event.credential_id
        before = documents.get(credential_id) or snapshot.credentials.get(credential_id)
        counters = counter_id(consumed)
        counted = snapshot.counted_offsets.get(counters, -1)
        if consumed.offset > counted:
            last_offsets[counters] = max(last_offsets.get(counters, -1), consumed.offset)
        if before is not None and envelope.id in before.get(APPLIED_EVENTS_FIELD, ()):
            continue
        after = apply_event(before, event, envelope)
        documents[credential_id] = after
        new_events[credential_id].append(envelope.id)
        if consumed.offset > counted:
            _count_move(deltas[counters], counted_as(before), counted_as(after))
    changes = ViewChanges(
        counters=[
            CounterChange(
                counter_id=counters,
                expected=snapshot.counted_offsets.get(counters),
                offset=offset,
                deltas={name: n for name, n in deltas[counters].items() if n},
            )
            for counters, offset in last_offsets.items()
        ]
    )
    placement = _Placement(snapshot, changes)
    for credential_id in {event_data(e.envelope).credential_id: None for e in events}:
        found = documents.get(credential_id) or snapshot.credentials.get(credential_id)
        if found is None:
            continue
        document = dict(found)  # placing sets top-level fields; the snapshot stays as read
        # Placing first: a credential that gets its buckets now records them in its update.
        placed_now = placement.place(document) if document.get(ISSUED_FLAG) else False
        if new_events[credential_id] or placed_now:
            changes.credentials.append(
                CredentialChange(
                    document=document,
                    new_events=new_events[credential_id],
                    original=snapshot.credentials.get(credential_id),
                )
            )
    return changes


def _count_move(deltas: Counter[str], before: str | None, after: str | None) -> None:
    if before != after:
        if before is not None:
            deltas[before] -= 1
        if after is not None:
            deltas[after] += 1


class _Placement:
    """Puts issued credentials into portfolio and postings buckets (kept where they were)."""

    def __init__(self, snapshot: ViewSnapshot, changes: ViewChanges) -> None:
        self.changes = changes
        self.tails = {
            PORTFOLIOS: {key: Tail(t.last, t.count) for key, t in snapshot.portfolio_tails.items()},
            POSTINGS: {key: Tail(t.last, t.count) for key, t in snapshot.posting_tails.items()},
        }

    def place(self, document: Document) -> bool:
        """Record the document's summary and postings; True when it got a bucket just now."""
        holder = document["holder_id"]
        placed_now = document.get("portfolio_bucket") is None
        if placed_now:
            document["portfolio_bucket"] = self._next_bucket(PORTFOLIOS, holder)
        entries = self.changes.portfolio_entries.setdefault(
            (holder, document["portfolio_bucket"]), {}
        )
        entries[entry_key(document["_id"])] = summary_entry(document)
        placed = {p["key"]: p["bucket"] for p in document.get("posting_buckets", [])}
        for key in sorted(competency_keys(document["achievement"]["competencies"])):
            if key not in placed:
                placed[key] = self._next_bucket(POSTINGS, key)
                placed_now = True
            self.changes.postings.setdefault((key, placed[key]), []).append(document["_id"])
        # Objects, not pairs: FerretDB stores no nested arrays.
        document["posting_buckets"] = [{"key": k, "bucket": b} for k, b in sorted(placed.items())]
        return placed_now

    def _next_bucket(self, collection: str, key: str) -> int:
        size = PORTFOLIO_BUCKET_SIZE if collection == PORTFOLIOS else POSTING_BUCKET_SIZE
        tail = self.tails[collection].setdefault(key, Tail())
        if tail.count >= size:
            tail.last, tail.count = tail.last + 1, 0
        tail.count += 1
        where = (collection, key, tail.last)
        self.changes.new_in_bucket[where] = self.changes.new_in_bucket.get(where, 0) + 1
        return tail.last


class CredentialProjection:
    """Keeps the view current: reads what a batch needs, folds it, writes the changes."""

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    async def apply(self, events: Sequence[ConsumedEvent]) -> None:
        """Apply a batch of events (in offset order per partition) exactly once each."""
        credentials = {event_data(e.envelope).credential_id for e in events}
        snapshot = await self.store.snapshot(
            credential_ids=sorted(credentials),
            holders=sorted({event_data(e.envelope).holder_id for e in events}),
            competency_keys=sorted(
                {
                    key
                    for e in events
                    if isinstance(issued := event_data(e.envelope), models.CredentialIssued)
                    for key in competency_keys(
                        [c.model_dump(exclude_none=True) for c in issued.competencies]
                    )
                }
            ),
            counter_ids=sorted({counter_id(e) for e in events}),
        )
        await self.store.save(fold(snapshot, events))

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """Take every credential event, a consumed batch at a time."""
        registry.register_batch(EVENTS, self.apply)
        return registry
