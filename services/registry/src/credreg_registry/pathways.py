"""Stackable pathways: an institution's definitions, every holder's progress, and one
``pathway.completed`` per holder and pathway.

The registry owns the definitions (it is the service that knows which achievements an
institution issued, and every holder's credentials). ``PUT /v1/pathways/{pathway_id}`` stores a
definition and publishes ``pathway.defined`` on ``credreg.pathways`` for whoever else needs it.
The holders who held its achievements before are found by a *back-fill* in the background
(``pathway_backfill``), never inside the request. ``DELETE`` leaves a tombstone: the pathway is
gone for every reader and every new credential event, its completions stay (they are history).

Progress: a pathway is a set of an institution's achievements, "all of" them or "N of M". A
component counts while one of the holder's credentials of that achievement is **active**
(issued, or reinstated after a suspension); a revoked, suspended or expired one does not. Once
``needed`` achievements count, the pathway is complete, for good: a completion is claimed once
per (holder, pathway) and never taken back. A component revoked after that is shown with the
completion ("a component was revoked since"); nothing is revoked automatically.

Layout (the service's base database, outside the view's generations: a claim must survive a
rebuild, or a replay would complete a pathway again). Every read is by ``_id``:

* ``pathways`` (``_id`` = pathway id): the definition, with its back-fill (``backfill``: state,
  where its walk is, a lease; see `Sweep`) and, once deleted, ``deleted_at`` (a tombstone: it
  keeps the id its institution's, and a ``DELETE`` again answers 204).
* ``pathway_index`` (``_id`` = ``["<issuer>", "<achievement>"]`` as JSON): the pathways that
  count that achievement, so that a credential event finds its pathways in one lookup.
* ``pathway_components`` (``_id`` = ``["<holder>", "<issuer>", "<achievement>"]``): the ids of
  the holder's credentials of that achievement (only ever added to). Their statuses are read
  live from the view, so that the order in which two writers add ids never matters.
* ``holder_pathways`` (``_id`` = holder): the pathways the holder has started.
* ``pathway_completions`` (``_id`` = ``["<holder>", "<pathway>"]``): the claim (inserted once:
  the unique ``_id`` decides between replicas), with its event as a Kafka record, ``published``
  once the broker acknowledged it.
* ``pathway_outbox`` (``_id`` = the same key): a marker written *before* the claim and removed
  after the ack, so that the relay finds every claim whose publication a crash interrupted
  (a handful of documents: the relay reads them all).
* ``pathway_backfill_queue`` (one document, ``_id`` = ``"pending"``): ``entries``, the back-fills
  to run, each ``["<pathway>", "<definition event id>"]``.

Deletion cleans ``pathway_index`` eagerly (one ``$pull`` per achievement: single-document
updates) and ``holder_pathways`` lazily: the pathway stays listed there, and every reader skips
a definition that is gone or deleted (a holder's list only ever holds the pathways it started).

The completion event's id is ``derived_event_id(["<holder>", "<pathway>"], "pathway.completed")``:
a replica, a redelivery, a replay or the relay that publishes it again publishes the same id,
which the issuer's award turns into one idempotency key.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from credreg_registry.layout import CREDENTIALS, LISTS, achievement_list, chunk_id
from credreg_registry.pathway_layout import (
    COMPLETIONS,
    COMPONENTS,
    DEFINED_PURPOSE,
    HOLDER_PATHWAYS,
    OUTBOX,
    PATHWAY_INDEX,
    PATHWAYS,
    backfill_entry,
    completion_event_id,
    completion_key,
    component_key,
    index_key,
)
from credreg_registry.ports import ViewDocuments
from credreg_shared.events import models
from credreg_shared.events.cloudevents import (
    Envelope,
    KafkaRecord,
    derived_event_id,
    from_record,
    new_envelope,
    to_record,
)
from credreg_shared.issuance import (
    IssuanceError,
    IssueCredential,
    validate_command,
    window_errors,
)
from credreg_shared.messaging.ports import EventPublisher
from credreg_shared.storage.ports import Document
from credreg_shared.workers import PeriodicRounds

log = logging.getLogger(__name__)

ACTIVE = "active"
REVOKED = "revoked"
MAX_ACHIEVEMENTS = 50
"""Achievements a pathway may name."""
TEMPLATE_HOLDER = "did:example:pathway-award-template"
"""Stands in for the holder when an award template is checked as an issuance command."""


# --- errors and answers -------------------------------------------------------------------


class InvalidPathway(Exception):
    """A definition that cannot be kept (422): each error names a field."""

    def __init__(self, errors: Sequence[IssuanceError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = list(errors)


class NotYourPathway(Exception):
    """Another institution defined this pathway id (403)."""


class PathwayNotFound(Exception):
    """No such pathway, or another institution's (404)."""


PathwayId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
AchievementId = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class PathwayRequest(BaseModel):
    """A pathway: these achievements of the calling institution, all of them or `required` of
    them, and optionally the stacked credential its issuer then awards."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    achievement_ids: list[AchievementId] = Field(
        description="The achievements (ids as in the credentials, `achievement.id`) that count; "
        "each one the institution issued at least once",
        max_length=MAX_ACHIEVEMENTS,
    )
    required: int | None = Field(
        default=None, description='"N of M": how many of them complete it (absent: all of them)'
    )
    award: dict[str, Any] | None = Field(
        default=None,
        description="The stacked credential to award on completion: the body of "
        "`POST /v1/credentials` on the issuer without `holder_id` (absent: no award)",
    )


SweepState = Literal["pending", "running", "done"]


class Sweep(BaseModel):
    """A definition's back-fill as kept with it (``backfill``): how far its walk over the lists
    of its achievements got, and which worker holds it until when. Every write of a worker is
    conditional on `rev` (and on the definition's event id), so a redefinition or another
    worker's step makes it read again rather than write over them."""

    model_config = ConfigDict(frozen=True)

    state: SweepState = "pending"
    rev: int = 0
    achievement: int = 0
    """The position, in the definition's `achievement_ids`, of the list being walked."""
    chunk: int = 0
    offset: int = 0
    """The next id to read: chunk `chunk` of that list, at `offset`."""
    holders_seen: int = 0
    credentials_seen: int = 0
    owner: str | None = None
    lease_until: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @field_validator("lease_until", "started_at", "finished_at")
    @classmethod
    def _zoned(cls, moment: datetime | None) -> datetime | None:
        # BSON keeps UTC without a zone (see `_aware`).
        return _aware(moment) if moment is not None else None


class Backfill(BaseModel):
    """The look for the holders who held the pathway's achievements before it was defined: they
    complete it (and it shows in their progress) once it has looked at them."""

    state: SweepState = Field(
        description="pending: queued; running: under way (after a restart, resumed where it "
        "stopped); done: every credential its achievements had when it ran was looked at"
    )
    holders_seen: int = Field(
        description="Holders looked at so far (one found in several pages counts in each)"
    )
    credentials_seen: int = Field(description="Credentials of its achievements read so far")
    started_at: datetime | None = None
    finished_at: datetime | None = None


class PathwayDefinition(BaseModel):
    """A pathway as kept here."""

    id: str
    issuer_id: str
    name: str
    achievement_ids: list[str]
    required: int
    award: dict[str, Any] | None = None
    event_id: str = Field(description="The id of the `pathway.defined` event")
    defined_at: datetime
    backfill: Backfill | None = Field(
        default=None,
        description="The back-fill of this definition (null: defined before back-fills ran in "
        "the background; its holders were looked at within its `PUT`)",
    )


class ComponentProgress(BaseModel):
    """One achievement of a pathway, as far as a holder has it."""

    achievement_id: str
    counts: bool = Field(description="One of the holder's credentials of it is active")
    credential_ids: list[str]


class PathwayProgress(BaseModel):
    """How far a holder is along one pathway."""

    pathway_id: str
    issuer_id: str
    name: str
    held: int = Field(description="Achievements that count now")
    required: int
    total: int
    summary: str = Field(description='e.g. "3 of 4", "completed"')
    completed: bool
    completed_at: datetime | None = None
    completion_event_id: str | None = None
    revoked_since_completion: list[str] = Field(
        default_factory=list,
        description="Credentials the completion counted that were revoked since (the stacked "
        "credential stays as it is)",
    )
    components: list[ComponentProgress]


# --- the store ----------------------------------------------------------------------------


class PathwayStore(Protocol):
    """Definitions, components, completions and the outbox, every read by ``_id``."""

    async def find_one(self, collection: str, document_id: str) -> Document | None:
        """One document, or None."""
        ...

    async def find_many(self, collection: str, document_ids: Sequence[str]) -> list[Document]:
        """The documents that exist among these ids."""
        ...

    async def put_definition(self, document: Document, *, dropped: Sequence[str]) -> None:
        """Keep a definition, list it under each of its achievements' index keys, and unlist
        it from the keys in `dropped` (achievements an earlier definition had)."""
        ...

    async def list_pathway(
        self, pathway_id: str, *, add: Sequence[str], remove: Sequence[str]
    ) -> None:
        """List a pathway under the index keys `add`, unlist it from `remove` (one
        single-document update per key)."""
        ...

    async def delete_definition(self, pathway_id: str, *, event_id: str, at: datetime) -> bool:
        """Mark the definition `event_id` deleted (a tombstone); False when the pathway holds
        another definition, none, or is deleted already."""
        ...

    async def save_backfill(
        self, pathway_id: str, *, event_id: str, rev: int, backfill: Document
    ) -> bool:
        """Replace the back-fill of definition `event_id` if its `rev` is still `rev` and the
        pathway is not deleted; False otherwise (someone else wrote first)."""
        ...

    async def queue_backfill(self, entry: str) -> None:
        """Queue a back-fill (``backfill_entry``; kept once)."""
        ...

    async def dequeue_backfill(self, entry: str) -> None:
        """Drop a back-fill from the queue."""
        ...

    async def add_components(self, members: Mapping[str, Sequence[str]]) -> None:
        """Add credential ids to components (component key → ids; created if absent)."""
        ...

    async def add_holder_pathways(self, started: Mapping[str, Sequence[str]]) -> None:
        """Note that holders started these pathways (holder → pathway ids)."""
        ...

    async def mark_pending(self, key: str, *, at: datetime) -> None:
        """The outbox marker of a completion about to be claimed (kept if there is one)."""
        ...

    async def claim(self, key: str, document: Document) -> bool:
        """Insert the completion; False when it was claimed before (by anyone)."""
        ...

    async def published(self, key: str) -> None:
        """The completion's event is on the log: flag it and drop its marker."""
        ...

    async def pending(self, *, before: datetime) -> list[str]:
        """The keys of the markers written before `before`."""
        ...

    async def drop_marker(self, key: str) -> None:
        """Drop a marker whose claim was never made (its writer died, the batch is redone)."""
        ...


# --- following progress --------------------------------------------------------------------


@dataclass(frozen=True)
class _Held:
    """What a holder has of one pathway: the ids per achievement, and their view documents."""

    ids: Mapping[str, Sequence[str]]
    states: Mapping[str, Document]

    def statuses(self, achievement_id: str) -> dict[str, str]:
        return {
            i: str(self.states[i].get("status"))
            for i in self.ids.get(achievement_id, ())
            if i in self.states
        }

    def active(self, achievement_id: str) -> list[str]:
        return sorted(i for i, s in self.statuses(achievement_id).items() if s == ACTIVE)


class PathwayTracker:
    """Follows every holder's progress and claims and publishes each completion once."""

    def __init__(
        self,
        *,
        store: PathwayStore,
        view: ViewDocuments,
        publisher: EventPublisher,
        topic: str,
        source: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.view = view
        self.publisher = publisher
        self.topic = topic
        self.source = source
        self.clock = clock

    async def follow(self, documents: Sequence[Document]) -> None:
        """Note the credentials of a written batch in their pathways, then look at each
        (holder, pathway) they touch: complete ones are claimed and published."""
        keys = {
            index_key(d["issuer_id"], d["achievement"]["id"]): d
            for d in documents
            if d.get("achievement")
        }
        if not keys:
            return
        index = {
            d["_id"]: list(d.get("pathways", []))
            for d in await self.store.find_many(PATHWAY_INDEX, sorted(keys))
        }
        relevant = [d for d in documents if index.get(_index_key_of(d))]
        if not relevant:
            return
        await self.note(relevant)
        pairs: dict[tuple[str, str], datetime] = {}
        for d in relevant:
            at = _aware(d.get("updated_at") or self.clock())
            for pathway_id in index[_index_key_of(d)]:
                pair = (str(d["holder_id"]), pathway_id)
                pairs[pair] = max(pairs.get(pair, at), at)
        definitions = await self.definitions(sorted({p for _, p in pairs}))
        await self.look(pairs, definitions)

    async def note(self, documents: Iterable[Document]) -> None:
        """Add issued credentials to their holders' components (only ever added to)."""
        members: dict[str, set[str]] = defaultdict(set)
        for d in documents:
            key = component_key(d["holder_id"], d["issuer_id"], d["achievement"]["id"])
            members[key].add(str(d["_id"]))
        await self.store.add_components({k: sorted(v) for k, v in members.items()})

    async def definitions(self, pathway_ids: Sequence[str]) -> dict[str, PathwayDefinition]:
        """The definitions among these ids (a deleted one is none: its index entries and the
        holders' lists may still name it)."""
        found = await self.store.find_many(PATHWAYS, pathway_ids)
        return {d["_id"]: definition_of(d) for d in found if not is_deleted(d)}

    async def held(self, holder_id: str, definitions: Sequence[PathwayDefinition]) -> _Held:
        """The holder's credentials of these pathways' achievements, with their live states."""
        return (await self._held_by([(holder_id, p) for p in definitions]))[holder_id]

    async def _held_by(self, pairs: Sequence[tuple[str, PathwayDefinition]]) -> dict[str, _Held]:
        """Holder → its credentials of its pairs' achievements with their live states: one
        ``$in`` read of the components and one of the credentials, whatever the number."""
        keys = {
            component_key(holder_id, p.issuer_id, a): (holder_id, a)
            for holder_id, p in pairs
            for a in p.achievement_ids
        }
        found = await self.store.find_many(COMPONENTS, sorted(keys))
        ids: dict[str, dict[str, list[str]]] = {holder_id: {} for holder_id, _ in pairs}
        for document in found:
            # Keyed by achievement within a holder: two institutions never share an achievement
            # id (the issuer derives it from the institution and the name).
            holder_id, achievement = keys[document["_id"]]
            ids[holder_id][achievement] = sorted(document.get("ids", []))
        every = sorted({i for held in ids.values() for v in held.values() for i in v})
        states = {
            d["_id"]: d
            for d in await self.view.find_many(
                CREDENTIALS, every, without=("applied_events", "placed")
            )
        }
        return {holder_id: _Held(held, states) for holder_id, held in ids.items()}

    async def evaluate(
        self, holder_id: str, definition: PathwayDefinition, *, at: datetime
    ) -> bool:
        """Claim and publish the completion when the holder has completed the pathway; True
        when it is complete (now or before)."""
        completed = await self.look({(holder_id, definition.id): at}, {definition.id: definition})
        return (holder_id, definition.id) in completed

    async def look(
        self,
        pairs: Mapping[tuple[str, str], datetime],
        definitions: Mapping[str, PathwayDefinition],
    ) -> set[tuple[str, str]]:
        """Look at each (holder, pathway) of `pairs` (the time of what prompted the look):
        note the pathways its holder started, claim and publish each completion not claimed
        yet. A handful of reads by ``_id`` for all of them; the (holder, pathway) complete."""
        wanted = [
            (holder_id, definitions[pathway_id])
            for holder_id, pathway_id in sorted(pairs)
            if pathway_id in definitions
        ]
        if not wanted:
            return set()
        held = await self._held_by(wanted)
        claimed = {
            (str(d["holder_id"]), str(d["pathway_id"]))
            for d in await self.store.find_many(
                COMPLETIONS, [completion_key(h, p.id) for h, p in wanted]
            )
        }
        started: dict[str, list[str]] = defaultdict(list)
        complete: set[tuple[str, str]] = set()
        due: list[tuple[str, PathwayDefinition, list[str]]] = []
        for holder_id, definition in wanted:
            mine = held[holder_id]
            if any(mine.ids.get(a) for a in definition.achievement_ids):
                started[holder_id].append(definition.id)
            counting = [a for a in definition.achievement_ids if mine.active(a)]
            if (holder_id, definition.id) in claimed:
                complete.add((holder_id, definition.id))  # published, or the relay's to publish
            elif len(counting) >= definition.required:
                due.append((holder_id, definition, counting))
        if started:
            await self.store.add_holder_pathways(dict(started))
        for holder_id, definition, counting in due:
            data = models.PathwayCompleted(
                pathway_id=definition.id,
                issuer_id=definition.issuer_id,
                holder_id=holder_id,
                credential_ids=tuple(held[holder_id].active(a)[0] for a in counting),
                award_achievement_id=None,
                award=definition.award,
            )
            envelope = new_envelope(
                data,
                source=self.source,
                event_id=completion_event_id(holder_id, definition.id),
                time=_aware(pairs[(holder_id, definition.id)]),
            )
            await self.claim_and_publish(completion_key(holder_id, definition.id), envelope)
            complete.add((holder_id, definition.id))
        return complete

    async def claim_and_publish(self, key: str, envelope: Envelope) -> None:
        """The outbox pattern: marker, claim, publish, then drop the marker. A crash after the
        claim leaves the marker, and the relay publishes the claim's event."""
        # The marker first: whatever happens after the claim, the relay can find its event.
        await self.store.mark_pending(key, at=self.clock())
        data = envelope.data_as(models.PathwayCompleted)
        won = await self.store.claim(
            key,
            {
                "_id": key,
                "holder_id": data.holder_id,
                "pathway_id": data.pathway_id,
                "event_id": envelope.id,
                "credential_ids": list(data.credential_ids),
                "completed_at": envelope.time,
                "record": record_document(to_record(envelope)),
                "published": False,
            },
        )
        if not won:
            return  # another replica's (or an earlier attempt's): it publishes, or the relay
        log.info("pathway %s completed by %s", data.pathway_id, data.holder_id)
        # The publisher bounds its wait: PublishUnavailable retries the batch, whose new look
        # finds the claim, and the relay publishes it once the broker is back.
        await self.publisher.publish(envelope, topic=self.topic)
        await self.store.published(key)

    async def relay_once(self, *, grace: timedelta, stale: timedelta) -> int:
        """Publish the claimed completions whose marker is older than `grace`; drop markers
        without a claim older than `stale`. The events published."""
        relayed = 0
        now = self.clock()
        for key in await self.store.pending(before=now - grace):
            claim = await self.store.find_one(COMPLETIONS, key)
            if claim is None:
                marker = await self.store.find_one(OUTBOX, key)
                if marker is not None and _aware(marker["at"]) < now - stale:
                    await self.store.drop_marker(key)
                continue
            if not claim.get("published"):
                record = record_of(claim["record"])
                await self.publisher.publish(
                    from_record(record.key, record.value, record.headers), topic=self.topic
                )
                relayed += 1
            await self.store.published(key)
        return relayed


class CompletionRelay(PeriodicRounds):
    """A `Worker`: every `poll` seconds, publishes the completions a crash left in the outbox."""

    name = "pathway completion relay"

    def __init__(
        self,
        tracker: PathwayTracker,
        *,
        poll: float = 5.0,
        grace: timedelta = timedelta(seconds=30),
        stale: timedelta = timedelta(minutes=5),
    ) -> None:
        super().__init__(poll=poll)
        self.tracker = tracker
        self.grace = grace
        self.stale = stale

    async def run_round(self) -> object:
        """One round of the relay."""
        return await self.tracker.relay_once(grace=self.grace, stale=self.stale)


# --- definitions and progress (the HTTP use case) ------------------------------------------


class ManagePathways:
    """Define and delete pathways (an institution's), and answer holders' progress."""

    def __init__(
        self,
        *,
        tracker: PathwayTracker,
        view: ViewDocuments,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tracker = tracker
        self.store = tracker.store
        self.view = view
        self.clock = clock

    async def define(
        self, pathway_id: str, request: PathwayRequest, *, institution: str
    ) -> PathwayDefinition:
        """Check, keep and announce a definition, and queue its back-fill (the holders who hold
        its achievements already complete it once the back-fill has looked at them)."""
        existing = await self.store.find_one(PATHWAYS, pathway_id)
        if existing is not None and existing["issuer_id"] != institution:
            raise NotYourPathway(f"pathway {pathway_id} belongs to another institution")
        achievements = list(dict.fromkeys(request.achievement_ids))
        await self._check(request, achievements, institution)
        required = request.required or len(achievements)
        event_id = derived_event_id(
            json.dumps([pathway_id, request.model_dump(mode="json")]), DEFINED_PURPOSE
        )
        keys = [index_key(institution, a) for a in achievements]
        same = (
            existing is not None
            and not is_deleted(existing)
            and existing.get("event_id") == event_id
        )
        if existing is not None and same and existing.get("backfill") is not None:
            # The same definition again (a retry): the same event, and its back-fill goes on
            # where it is; the index is listed again in case the first attempt stopped short.
            document: Document = existing
            await self.store.list_pathway(pathway_id, add=keys, remove=[])
        else:
            document = {
                "_id": pathway_id,
                "issuer_id": institution,
                "name": request.name,
                "achievement_ids": achievements,
                "required": required,
                "award": request.award,
                "event_id": event_id,
                # The same definition again: the same event (one kept before its back-fill was).
                "defined_at": _aware(existing["defined_at"]) if existing and same else self.clock(),
                "backfill": Sweep().model_dump(),
            }
            dropped = [
                index_key(institution, a)
                for a in (existing or {}).get("achievement_ids", [])
                if a not in achievements
            ]
            # Kept (with its pending back-fill, in one write) before it is announced and before
            # its back-fill is queued: a credential event that comes meanwhile finds it in the
            # index, and the back-fill finds the rest.
            await self.store.put_definition(document, dropped=dropped)
        definition = definition_of(document)
        if definition.backfill is not None and definition.backfill.state != "done":
            # After the definition: a crash in between leaves it unqueued until the request is
            # retried (its answer was never a 200), as a lost announcement is.
            await self.store.queue_backfill(backfill_entry(pathway_id, event_id))
        data = models.PathwayDefined(
            pathway_id=pathway_id,
            issuer_id=institution,
            name=request.name,
            required_achievement_ids=tuple(achievements),
            required_count=required,
            award=request.award,
            award_achievement_id=None,
        )
        envelope = new_envelope(
            data, source=self.tracker.source, event_id=event_id, time=definition.defined_at
        )
        await self.tracker.publisher.publish(envelope, topic=self.tracker.topic)
        return definition

    async def get(self, pathway_id: str, *, institution: str) -> PathwayDefinition:
        """A pathway of the calling institution, with its back-fill."""
        found = await self.store.find_one(PATHWAYS, pathway_id)
        if found is None or found["issuer_id"] != institution or is_deleted(found):
            raise PathwayNotFound(f"no pathway {pathway_id}")
        return definition_of(found)

    async def delete(self, pathway_id: str, *, institution: str) -> None:
        """Delete a pathway of the calling institution: gone for every reader and every credential
        event from now on, its completions kept. Deleting it again is no error (the index is
        cleaned again); a `PUT` defines it anew."""
        while True:
            found = await self.store.find_one(PATHWAYS, pathway_id)
            if found is None or found["issuer_id"] != institution:
                raise PathwayNotFound(f"no pathway {pathway_id}")
            if is_deleted(found):
                break
            if await self.store.delete_definition(
                pathway_id, event_id=found["event_id"], at=self.clock()
            ):
                break
            # Redefined meanwhile: the newest definition is the one deleted.
        keys = [index_key(institution, a) for a in found["achievement_ids"]]
        await self.store.list_pathway(pathway_id, add=[], remove=keys)
        await self.store.dequeue_backfill(backfill_entry(pathway_id, found["event_id"]))
        # A redefinition may have come between the tombstone and the unlisting, and been
        # unlisted by it: list it again (one that comes after this read lists itself).
        again = await self.store.find_one(PATHWAYS, pathway_id)
        if again is not None and not is_deleted(again):
            await self.store.list_pathway(
                pathway_id,
                add=[index_key(institution, a) for a in again["achievement_ids"]],
                remove=[],
            )
        log.info("pathway %s of %s deleted", pathway_id, institution)

    async def progress(
        self, holder_id: str, *, institution: str | None = None
    ) -> list[PathwayProgress]:
        """The holder's progress along each pathway it has started and that is not deleted (an
        institution: along its own pathways only)."""
        started = await self.store.find_one(HOLDER_PATHWAYS, holder_id)
        ids = sorted((started or {}).get("pathways", []))
        definitions = [
            d
            for d in (await self.tracker.definitions(ids)).values()
            if institution is None or d.issuer_id == institution
        ]
        if not definitions:
            return []
        held = await self.tracker.held(holder_id, definitions)
        claims = {
            d["pathway_id"]: d
            for d in await self.store.find_many(
                COMPLETIONS, [completion_key(holder_id, p.id) for p in definitions]
            )
        }
        answers = [
            progress_of(p, held, claims.get(p.id))
            for p in sorted(definitions, key=lambda p: (p.name, p.id))
        ]
        return [a for a in answers if a.completed or any(c.credential_ids for c in a.components)]

    async def _check(
        self, request: PathwayRequest, achievements: list[str], institution: str
    ) -> None:
        errors: list[IssuanceError] = []
        if not achievements:
            errors.append(IssuanceError(field="achievement_ids", message="name one at least"))
        if request.required is not None and not 1 <= request.required <= len(achievements):
            errors.append(
                IssuanceError(
                    field="required",
                    message=f"must be between 1 and the number of achievements "
                    f"({len(achievements)})",
                )
            )
        known = {
            d["_id"]
            for d in await self.view.find_many(
                LISTS, [chunk_id(0, achievement_list(institution, a)) for a in achievements]
            )
        }
        for n, achievement in enumerate(achievements):
            if chunk_id(0, achievement_list(institution, achievement)) not in known:
                errors.append(
                    IssuanceError(
                        field=f"achievement_ids.{n}",
                        message=f"{achievement} is not an achievement this institution issued",
                    )
                )
        if request.award is not None:
            checked = validate_command(
                {**request.award, "holder_id": TEMPLATE_HOLDER}, prefix="award"
            )
            if not isinstance(checked, IssueCredential):
                errors += [e for e in checked if e.field != "award.holder_id"]
            else:
                # A template whose window closed already would award nothing, ever.
                errors += window_errors(checked, now=self.clock(), prefix="award")
            if "holder_id" in request.award:
                errors.append(
                    IssuanceError(field="award.holder_id", message="the holder is who completes")
                )
        if errors:
            raise InvalidPathway(errors)


def definition_of(document: Mapping[str, Any]) -> PathwayDefinition:
    """A stored definition as answered."""
    return PathwayDefinition(
        id=document["_id"],
        issuer_id=document["issuer_id"],
        name=document["name"],
        achievement_ids=list(document["achievement_ids"]),
        required=int(document["required"]),
        award=document.get("award"),
        event_id=document["event_id"],
        defined_at=_aware(document["defined_at"]),
        backfill=backfill_of_document(document),
    )


def is_deleted(document: Mapping[str, Any]) -> bool:
    """Whether a stored definition is a tombstone."""
    return document.get("deleted_at") is not None


def sweep_of(document: Mapping[str, Any]) -> Sweep | None:
    """The back-fill kept with a definition (None: defined before back-fills were kept)."""
    found = document.get("backfill")
    return Sweep.model_validate(found) if found is not None else None


def backfill_of_document(document: Mapping[str, Any]) -> Backfill | None:
    """A definition's back-fill as answered."""
    sweep = sweep_of(document)
    if sweep is None:
        return None
    return Backfill(
        state=sweep.state,
        holders_seen=sweep.holders_seen,
        credentials_seen=sweep.credentials_seen,
        started_at=sweep.started_at,
        finished_at=sweep.finished_at,
    )


def progress_of(
    definition: PathwayDefinition, held: _Held, claim: Mapping[str, Any] | None
) -> PathwayProgress:
    """A holder's progress along one pathway, from its credentials' live states and its claim."""
    components = [
        ComponentProgress(
            achievement_id=a,
            counts=bool(held.active(a)),
            credential_ids=list(held.ids.get(a, ())),
        )
        for a in definition.achievement_ids
    ]
    count = sum(c.counts for c in components)
    revoked: list[str] = []
    if claim is not None:
        states = held.states
        revoked = sorted(
            i for i in claim.get("credential_ids", []) if _status(states, i) == REVOKED
        )
    shown = min(count, definition.required)
    summary = f"{shown} of {definition.required}"
    if claim is not None:
        summary = "completed"
        if revoked:
            summary = "completed; a component was revoked since"
    return PathwayProgress(
        pathway_id=definition.id,
        issuer_id=definition.issuer_id,
        name=definition.name,
        held=count,
        required=definition.required,
        total=len(definition.achievement_ids),
        summary=summary,
        completed=claim is not None,
        completed_at=_aware(claim["completed_at"]) if claim is not None else None,
        completion_event_id=claim.get("event_id") if claim is not None else None,
        revoked_since_completion=revoked,
        components=components,
    )


def _status(states: Mapping[str, Document], credential_id: str) -> str | None:
    found = states.get(credential_id)
    return str(found.get("status")) if found is not None else None


def _index_key_of(document: Mapping[str, Any]) -> str:
    return index_key(document["issuer_id"], document["achievement"]["id"])


def record_document(record: KafkaRecord) -> Document:
    """A Kafka record as stored (headers as one JSON text: FerretDB 1.x stores no nested
    arrays)."""
    headers = json.dumps([[name, value.decode()] for name, value in record.headers])
    return {"key": record.key, "value": record.value, "headers": headers}


def record_of(document: Mapping[str, Any]) -> KafkaRecord:
    """The Kafka record a completion keeps."""
    headers = [(str(name), value.encode()) for name, value in json.loads(document["headers"])]
    return KafkaRecord(bytes(document["key"]), bytes(document["value"]), headers)


def _aware(moment: datetime) -> datetime:
    # BSON keeps UTC without a zone: a client that is not tz-aware reads naive datetimes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
