"""The back-fill of a new definition: the holders who held its achievements before it was defined
are looked at in the background, a page at a time, resumably.

``PUT /v1/pathways/{id}`` keeps the definition with a pending back-fill (``backfill``, a `Sweep`,
in the same single-document write) and queues it (``pathway_backfill_queue``); it answers
without walking anything. The `BackfillWorker` runs the queue: a page reads up to `PAGE`
credential ids from the list of one of the pathway's achievements (the view's
``achievement:["<issuer>", "<achievement>"]`` list, chunked like portfolios), notes them in their
holders' components and looks at those holders (the tracker claims each completion once, by its
unique ``_id``), then records the position after them in the back-fill.

* **Resumable.** The position (achievement, chunk, offset) is recorded after every page, so a
  restart goes on from the last page recorded: a crash redoes at most that page, which notes and
  claims nothing twice.
* **One worker at a time.** A worker takes a back-fill with a lease (`owner`, `lease_until`),
  renewed by every page and released when it stops; another replica takes it over once the lease
  has run out. Every write is conditional on the back-fill's `rev` and on the definition's event
  id, so a worker that lost the lease, or whose definition was replaced, reads again instead of
  writing over it.
* **Redefinition.** A new definition replaces the document (its back-fill starts over) and queues
  its own entry; the worker's next write for the old one fails, and the old entry is dropped:
  what ends is the back-fill of the newest definition. A deleted pathway's entry is dropped too.
* **Nothing missed.** The definition is in ``pathway_index`` before its back-fill is queued, and
  a batch writes its credentials before it reads the index: a credential issued meanwhile is
  seen by the consumer, by the back-fill, or by both (including ids added to a chunk the walk
  has passed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from credreg_registry.layout import CREDENTIALS, LISTS, achievement_list, chunk_id
from credreg_registry.pathway_layout import BACKFILL_QUEUE, PATHWAYS, QUEUE_ID, backfill_of
from credreg_registry.pathways import (
    PathwayDefinition,
    PathwayTracker,
    Sweep,
    definition_of,
    is_deleted,
    sweep_of,
)
from credreg_registry.ports import ViewDocuments
from credreg_shared.workers import PeriodicRounds

log = logging.getLogger(__name__)

PAGE = 500
"""Credential ids a page reads (then notes, and whose holders it looks at)."""
WINDOW = 8
"""List chunks a page reads in one ``$in``."""


@dataclass(frozen=True)
class _Position:
    """Where a walk is: chunk `chunk` of the list of the `achievement`-th achievement, `offset`."""

    achievement: int
    chunk: int
    offset: int


class Backfiller:
    """Runs the queued back-fills, a page at a time (see the module's docstring)."""

    def __init__(
        self,
        tracker: PathwayTracker,
        view: ViewDocuments,
        *,
        page: int = PAGE,
        lease: timedelta = timedelta(minutes=1),
        owner: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tracker = tracker
        self.store = tracker.store
        self.view = view
        self.page = page
        self.lease = lease
        self.owner = owner or uuid.uuid4().hex
        self.clock = clock

    async def run_once(self, *, stopping: Callable[[], bool] = lambda: False) -> int:
        """Run the queued back-fills until each is done (or another worker's), including those
        queued meanwhile (a redefinition's), or until `stopping()`; the pages swept."""
        pages = 0
        visited: set[str] = set()
        while not stopping():
            queue = await self.store.find_one(BACKFILL_QUEUE, QUEUE_ID)
            fresh = [str(e) for e in (queue or {}).get("entries", []) if str(e) not in visited]
            if not fresh:
                break
            for entry in fresh:
                if stopping():
                    break
                visited.add(entry)
                pages += await self.sweep(entry, stopping=stopping)
        return pages

    async def sweep(self, entry: str, *, stopping: Callable[[], bool] = lambda: False) -> int:
        """Run one queued back-fill until it is done, another worker holds it, or
        `stopping()` (the lease is released then); the pages swept."""
        pathway_id, event_id = backfill_of(entry)
        pages = 0
        while True:
            found = await self.store.find_one(PATHWAYS, pathway_id)
            sweep = _current(found, event_id)
            if found is None or sweep is None or sweep.state == "done":
                # Done, or replaced by a newer definition (queued on its own), or deleted.
                await self.store.dequeue_backfill(entry)
                return pages
            now = self.clock()
            mine = sweep.owner == self.owner
            if not mine and sweep.owner is not None and _later(sweep.lease_until, now):
                return pages  # another worker's while its lease runs
            if stopping():
                if mine:
                    await self._save(pathway_id, event_id, sweep, owner=None, lease_until=None)
                return pages
            if not mine:
                await self._save(
                    pathway_id,
                    event_id,
                    sweep,
                    state="running",
                    owner=self.owner,
                    lease_until=now + self.lease,
                    started_at=sweep.started_at or now,
                )
                continue  # read again: taken, or someone else wrote first
            if await self._step(pathway_id, definition_of(found), sweep):
                pages += 1

    async def _step(self, pathway_id: str, definition: PathwayDefinition, sweep: Sweep) -> bool:
        """One page: read, note, look, then record the position after it; False when the
        record was refused (the next read tells why)."""
        ids, after = await self._next_ids(definition, sweep)
        documents = (
            await self.view.find_many(CREDENTIALS, ids, without=("applied_events", "placed"))
            if ids
            else []
        )
        shown = [d for d in documents if d.get("issued") and d.get("achievement")]
        holders = sorted({str(d["holder_id"]) for d in shown})
        if shown:
            await self.tracker.note(shown)
            await self.tracker.look(
                {(h, definition.id): definition.defined_at for h in holders},
                {definition.id: definition},
            )
        now = self.clock()
        done = after.achievement >= len(definition.achievement_ids)
        saved = await self._save(
            pathway_id,
            definition.event_id,
            sweep,
            state="done" if done else "running",
            achievement=after.achievement,
            chunk=after.chunk,
            offset=after.offset,
            holders_seen=sweep.holders_seen + len(holders),
            credentials_seen=sweep.credentials_seen + len(shown),
            owner=None if done else self.owner,
            lease_until=None if done else now + self.lease,
            finished_at=now if done else None,
        )
        if saved and done:
            log.info(
                "pathway %s: back-fill done (%d credentials, %d holder looks)",
                pathway_id,
                saved.credentials_seen,
                saved.holders_seen,
            )
        return saved is not None

    async def _next_ids(
        self, definition: PathwayDefinition, sweep: Sweep
    ) -> tuple[list[str], _Position]:
        """Up to `page` ids from the back-fill's position, and the position after them."""
        if sweep.achievement >= len(definition.achievement_ids):
            return [], _Position(sweep.achievement, 0, 0)
        list_id = achievement_list(
            definition.issuer_id, definition.achievement_ids[sweep.achievement]
        )
        names = [chunk_id(n, list_id) for n in range(sweep.chunk, sweep.chunk + WINDOW)]
        found = {d["_id"]: list(d["ids"]) for d in await self.view.find_many(LISTS, names)}
        ids: list[str] = []
        offset = sweep.offset
        for number, name in enumerate(names, start=sweep.chunk):
            if name not in found:
                # The list's end (chunks are numbered without gaps): on to the next achievement.
                return ids, _Position(sweep.achievement + 1, 0, 0)
            taken = found[name][offset : offset + self.page - len(ids)]
            ids += taken
            offset += len(taken)
            if len(ids) >= self.page:
                if offset < len(found[name]):
                    return ids, _Position(sweep.achievement, number, offset)
                return ids, _Position(sweep.achievement, number + 1, 0)
            offset = 0
        return ids, _Position(sweep.achievement, sweep.chunk + WINDOW, 0)

    async def _save(
        self, pathway_id: str, event_id: str, sweep: Sweep, **changes: Any
    ) -> Sweep | None:
        """Write the back-fill changed, if nobody wrote it since it was read; None otherwise."""
        changed = sweep.model_copy(update={**changes, "rev": sweep.rev + 1})
        written = await self.store.save_backfill(
            pathway_id, event_id=event_id, rev=sweep.rev, backfill=changed.model_dump()
        )
        return changed if written else None


class BackfillWorker(PeriodicRounds):
    """A `Worker`: every `poll` seconds, runs the queued back-fills of new definitions (a stop
    returns after the current page, releasing the back-fill it holds)."""

    name = "pathway back-fill"

    def __init__(self, backfiller: Backfiller, *, poll: float = 1.0) -> None:
        super().__init__(poll=poll)
        self.backfiller = backfiller

    async def run_round(self) -> object:
        """The queued back-fills, a page at a time, until done or stopped."""
        return await self.backfiller.run_once(stopping=lambda: self.loop.stopping)


def _current(found: dict[str, Any] | None, event_id: str) -> Sweep | None:
    """The back-fill of definition `event_id`, if the pathway still holds that definition."""
    if found is None or is_deleted(found) or found.get("event_id") != event_id:
        return None
    return sweep_of(found)


def _later(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment > now
