"""Projects credential lifecycle events into the registry's view, a consumed batch at a time.

`fold` is the whole rule, pure: from what the batch read (`ViewSnapshot`) and the batch's events,
what to write (`ViewChanges`). `CredentialProjection.apply` reads, folds and writes, once per
batch: one read and one bulk write per collection instead of round trips per event.

Exactly once: an event whose id a credential document already lists in ``applied_events`` is
skipped, and the document's update lists the new ids in the same single-document write. Counts
move only for events past the partition's counted offset (compare-and-set), and are written
*before* the credential documents: a crash in between leaves the documents unchanged, so the
redelivered batch folds to the same documents and does not count again. Portfolio and
achievement list entries are derived from the documents and rewritten for every credential the
batch touches, so a crash after the documents and before the entries is mended by the
redelivery.

Order: Kafka keeps one credential's events in order (key = credential id), the batch folds them
in that order, and the shared lifecycle rules (``next_status``) only let a status move forward
(reinstatement lifts a suspension only). A lifecycle event that comes before the credential's
``issued`` event leaves a *placeholder* (no ``issued`` flag, hidden from the API); the later
``issued`` event completes it without resetting its status.

Supersession, both ways: a revocation that names its replacement (``superseded_by``) records it
on the revoked credential, and adds the revoked credential to the replacement's ``supersedes``,
once per event (the replacement's ``applied_events`` lists the revocation too). The replacement
may sit on another partition and not be in the view yet: the link then leaves a placeholder
without a status (counted nowhere), which its ``issued`` event completes.

Every time stored comes from the event (``envelope.time``), never the clock, so replaying the
log into an empty view rebuilds the very same documents.

Pathways: once a batch is written, the issued credentials it touched (redelivered ones too) go
to the ``PathwayFollower`` (``pathways.PathwayTracker``), which follows their holders' progress
and claims each completion once; it is idempotent, so a redelivered batch only looks again.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol

from credreg_registry.domain import (
    EXPIRING,
    EXPIRY_RENEWAL,
    ISSUED_FLAG,
    SUPERSEDES,
)
from credreg_registry.layout import (
    CounterChange,
    CredentialChange,
    ViewChanges,
    ViewSnapshot,
    achievement_list,
    counted_as,
    line,
    portfolio_list,
)
from credreg_registry.ports import ViewStore
from credreg_registry.view_events import credential_text
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.lifecycle import ACTIVE, next_status
from credreg_shared.messaging.handlers import ConsumedEvent, HandlerRegistry
from credreg_shared.storage.ports import APPLIED_EVENTS_FIELD, Document

log = logging.getLogger(__name__)


class PathwayFollower(Protocol):
    """Follows pathway progress from the credentials a written batch touched."""

    async def follow(self, documents: Sequence[Document]) -> None:
        """Note each issued credential's state (as the view now holds it) for its pathways."""
        ...


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
            result[EXPIRING] = expiring_notice(event, envelope)
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
            "competencies": competencies_as_stored(event.competencies),
        },
        "valid_from": event.valid_from,
        "valid_until": event.valid_until,
        "issued_at": envelope.time,
        ISSUED_FLAG: True,
    }


def competencies_as_stored(competencies: tuple[models.Competency, ...]) -> list[Document]:
    """A credential's competencies as its document holds them: each one's fields but None.

    What ``model_dump(exclude_none=True)`` gives for these plain models (fields of text or None,
    no aliases or serialisers), in a tenth of its time.
    """
    return [
        {name: value for name, value in competency.__dict__.items() if value is not None}
        for competency in competencies
    ]


def expiring_notice(event: models.CredentialExpiring, envelope: Envelope) -> Document:
    """What an expiring notice stores (a later notice, e.g. 7 days after 60, replaces it)."""
    return {
        "valid_until": event.valid_until,
        "noticed_at": envelope.time,
        "lead_days": event.lead_days,
        "renewal": renewal_fields(event.renewal),
    }


def renewal_fields(renewal: models.Renewal | None) -> Document | None:
    """A renewal as stored (None when the event has none)."""
    return renewal.model_dump() if renewal is not None else None


def link_replacement(
    document: Document | None, replacement: str, event: models.CredentialRevoked, envelope: Envelope
) -> Document:
    """The replacement's document listing the revoked credential in ``supersedes`` (a new dict).

    Nothing else moves, ``updated_at`` and status included: those are the replacement's own
    events', which another partition's consumer may be writing at the same time.
    """
    result: Document = (
        copy.deepcopy(document)
        if document is not None
        else {
            "_id": replacement,
            APPLIED_EVENTS_FIELD: [],
            "issuer_id": event.issuer_id,
            "holder_id": event.holder_id,
        }
    )
    supersedes = result.get(SUPERSEDES, [])
    if event.credential_id not in supersedes:
        result[SUPERSEDES] = [*supersedes, event.credential_id]
    result[APPLIED_EVENTS_FIELD] = [*result[APPLIED_EVENTS_FIELD], envelope.id]
    return result


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
            return {"expired_at": envelope.time, EXPIRY_RENEWAL: renewal_fields(event.renewal)}
    raise TypeError(f"{type(event).__name__} is not a status event")


def fold(
    snapshot: ViewSnapshot, events: Sequence[ConsumedEvent], counts: ChunkCounts | None = None
) -> ViewChanges:
    """What a batch of events writes into the view, given what the view held before it."""
    documents: dict[str, Document] = {}
    new_events: dict[str, list[str]] = defaultdict(list)
    deltas: dict[str, Counter[str]] = defaultdict(Counter)
    last_offsets: dict[str, int] = {}
    issued_now: set[str] = set()
    # Credential id → whether the batch holds events of its own (False: only linked to).
    touched: dict[str, bool] = {}
    changes = ViewChanges()
    for consumed in events:
        envelope = consumed.envelope
        event = event_data(envelope)
        credential_id = event.credential_id
        touched[credential_id] = True
        if isinstance(event, models.CredentialIssued):
            issued_now.add(credential_id)
        before = documents.get(credential_id) or snapshot.credentials.get(credential_id)
        counters = counter_id(consumed)
        counted = snapshot.counted_offsets.get(counters, -1)
        if consumed.offset > counted:
            last_offsets[counters] = max(last_offsets.get(counters, -1), consumed.offset)
        if before is None or envelope.id not in before.get(APPLIED_EVENTS_FIELD, ()):
            after = apply_event(before, event, envelope)
            if isinstance(event, models.CredentialIssued):
                # Text, not a nested document: several times cheaper for FerretDB to write.
                changes.bodies.append({"_id": credential_id, "json": credential_text(event)})
            documents[credential_id] = after
            new_events[credential_id].append(envelope.id)
            if consumed.offset > counted:
                _count_move(deltas[counters], counted_as(before), counted_as(after))
        # Even when the revoked credential had this event already: its replacement's write may
        # not have landed (a crash between the two), and the redelivery mends it.
        if isinstance(event, models.CredentialRevoked):
            linked = _supersession(event, envelope, documents, snapshot)
            if linked is not None:
                documents[linked["_id"]] = linked
                new_events[linked["_id"]].append(envelope.id)
                touched.setdefault(linked["_id"], False)
    changes.counters = [
        CounterChange(
            counter_id=counters,
            expected=snapshot.counted_offsets.get(counters),
            offset=offset,
            deltas={name: n for name, n in deltas[counters].items() if n},
        )
        for counters, offset in last_offsets.items()
    ]
    placement = _Placement(snapshot, changes, counts or ChunkCounts())
    for credential_id, own in touched.items():
        found = documents.get(credential_id) or snapshot.credentials.get(credential_id)
        if found is None:
            continue
        document = dict(found)  # placing sets top-level fields; the snapshot stays as read
        # Only a credential with events of its own is placed and gets its line written: a
        # replacement that was only linked to keeps both (its line does not show the link), and
        # its own partition's consumer may be writing them from a newer state.
        shown = own and bool(document.get(ISSUED_FLAG))
        # Placing first: a credential that gets its buckets now records them in its update.
        placed_now = (
            placement.place(document, issued_in_batch=credential_id in issued_now)
            if shown
            else False
        )
        if shown:
            # Every touched credential's line is written again: that mends a crash between
            # the state's write and the line's.
            changes.lines[credential_id] = line(document)
            changes.shown.append(document)
            original = snapshot.credentials.get(credential_id)
            if original is None or not original.get(ISSUED_FLAG):
                changes.new_lines.add(credential_id)
        if new_events[credential_id] or placed_now:
            changes.credentials.append(
                CredentialChange(
                    document=document,
                    new_events=new_events[credential_id],
                    original=snapshot.credentials.get(credential_id),
                )
            )
    return changes


def _supersession(
    event: models.CredentialRevoked,
    envelope: Envelope,
    documents: Mapping[str, Document],
    snapshot: ViewSnapshot,
) -> Document | None:
    """The replacement's document with the link this revocation adds, or None: nothing to add.

    The link follows the revoked credential's recorded revocation: a revocation that did not
    take (the credential was revoked before, for another reason) names no replacement there, so
    it links nothing either.
    """
    replacement = event.superseded_by
    revoked = documents.get(event.credential_id) or snapshot.credentials.get(event.credential_id)
    if replacement is None or revoked is None:
        return None
    if (revoked.get("revocation") or {}).get("superseded_by") != replacement:
        return None
    before = documents.get(replacement) or snapshot.credentials.get(replacement)
    if before is not None and envelope.id in before.get(APPLIED_EVENTS_FIELD, ()):
        return None
    return link_replacement(before, replacement, event, envelope)


def _count_move(deltas: Counter[str], before: str | None, after: str | None) -> None:
    if before != after:
        if before is not None:
            deltas[before] -= 1
        if after is not None:
            deltas[after] += 1


class ChunkCounts:
    """How many chunks each recently written list has, as this process wrote them (bounded)."""

    # Every batch reads its lists' heads anyway: this only covers a head that lags its chunks,
    # so a few batches' worth is enough (100,000 list ids took ~20 MB at a million credentials).
    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._counts: OrderedDict[str, int] = OrderedDict()

    def get(self, list_id: str) -> int:
        """The count remembered for a list (0 when forgotten or never seen)."""
        return self._counts.get(list_id, 0)

    def remember(self, counts: Mapping[str, int]) -> None:
        """Remember counts after a batch is written; forget the least recent past capacity."""
        for list_id, count in counts.items():
            self._counts[list_id] = max(count, self._counts.pop(list_id, 0))
        while len(self._counts) > self.capacity:
            self._counts.popitem(last=False)


def _placement(entry: str) -> tuple[str, int]:
    """A ``placed`` entry as (list, chunk)."""
    chunk, _, list_id = entry.partition("|")
    return list_id, int(chunk)


class _Placement:
    """Puts issued credentials into list chunks (kept where they were)."""

    def __init__(self, snapshot: ViewSnapshot, changes: ViewChanges, counts: ChunkCounts) -> None:
        self.snapshot = snapshot
        self.changes = changes
        self.counts = counts
        self.chunk_of_batch: dict[str, int] = {}

    def place(self, document: Document, *, issued_in_batch: bool) -> bool:
        """Record the document in its holder's and its achievement's lists; True when new.

        Ids already placed are written again only when the batch holds the credential's issued
        event (a redelivery: the chunk's first write may not have landed).
        """
        placed = dict(_placement(entry) for entry in document.get("placed", []))
        achievement = document["achievement"]
        lists = [
            portfolio_list(document["holder_id"]),
            achievement_list(document["issuer_id"], achievement["id"]),
        ]
        placed_now = False
        for list_id in lists:
            if list_id not in placed:
                placed[list_id] = self._chunk(list_id)
                self.changes.add_to_chunk(list_id, placed[list_id], document["_id"], new=True)
                placed_now = True
            elif issued_in_batch:
                self.changes.add_to_chunk(list_id, placed[list_id], document["_id"], new=False)
        # "<chunk>|<list>" strings: flat values are cheaper for FerretDB than small documents.
        document["placed"] = [f"{n}|{k}" for k, n in sorted(placed.items())]
        return placed_now

    def _chunk(self, list_id: str) -> int:
        """The chunk this batch opens in a list: after the last one known here or in its head."""
        if list_id not in self.chunk_of_batch:
            self.chunk_of_batch[list_id] = max(
                self.counts.get(list_id),
                self.snapshot.list_heads.get(list_id, 0),
                self.snapshot.list_chunks.get(list_id, 0),
            )
        return self.chunk_of_batch[list_id]


class CredentialProjection:
    """Keeps the view current: reads what a batch needs, folds it, writes the changes."""

    def __init__(self, store: ViewStore, pathways: PathwayFollower | None = None) -> None:
        self.store = store
        self.counts = ChunkCounts()
        self.pathways = pathways
        """Told every issued credential a batch touched, once the batch is written (None: no
        pathway progress, e.g. in a rebuild, which the live consumer then catches up on)."""

    async def apply(self, events: Sequence[ConsumedEvent]) -> None:
        """Apply a batch of events (in offset order per partition) exactly once each."""
        data = [event_data(e.envelope) for e in events]
        lists = {portfolio_list(d.holder_id) for d in data} | {
            achievement_list(d.issuer_id, d.achievement_id)
            for d in data
            if isinstance(d, models.CredentialIssued)
        }
        # A revocation that names its replacement writes the replacement's document too.
        replacements = {
            d.superseded_by
            for d in data
            if isinstance(d, models.CredentialRevoked) and d.superseded_by is not None
        }
        snapshot = await self.store.snapshot(
            credential_ids=sorted({d.credential_id for d in data} | replacements),
            lists=sorted(lists),
            counter_ids=sorted({counter_id(e) for e in events}),
            # Lists whose count this process forgot (or never knew) are counted from the store.
            count_lists=sorted(list_id for list_id in lists if self.counts.get(list_id) == 0),
        )
        changes = fold(snapshot, events, self.counts)
        await self.store.save(changes)
        self.counts.remember(changes.next_chunks())
        if self.pathways is not None and changes.shown:
            # After the write: a redelivered batch follows its credentials again (idempotent).
            await self.pathways.follow(changes.shown)

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """Take every credential event, a consumed batch at a time."""
        registry.register_batch(EVENTS, self.apply)
        return registry
