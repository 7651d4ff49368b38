"""The back-fill of a new definition over fakes: it walks its achievements' lists in pages,
completes each holder once, resumes where a stopped or crashed worker left it (never from the
start), ends with the newest definition's back-fill when a redefinition comes mid-walk, drops a
deleted pathway's, and its worker survives an outage but not its own cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from credreg_registry.adapters.fakes import InMemoryPathwayStore, InMemoryView
from credreg_registry.layout import CREDENTIALS, LISTS
from credreg_registry.pathway_backfill import Backfiller, BackfillWorker
from credreg_registry.pathway_layout import BACKFILL_QUEUE, QUEUE_ID
from credreg_registry.pathways import (
    Backfill,
    ManagePathways,
    PathwayRequest,
    PathwayTracker,
    sweep_of,
)
from credreg_registry.projection import CredentialProjection
from credreg_shared.errors import StorageUnavailable
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import from_record, new_envelope
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent
from credreg_shared.storage.ports import Document

pytestmark = pytest.mark.timeout(30)

ISSUER = samples.SAMPLE_ISSUER
TOPIC = "credreg.pathways"
START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
A0, A1, A2 = (f"urn:uuid:00000000-0000-4000-8000-0000000000a{n}" for n in range(3))
PAGE = 2


class RecordingView:
    """The view as a back-fill reads it: the credential ids of each page, and a hook run as
    each page is read (before its holders are looked at)."""

    def __init__(self, view: InMemoryView) -> None:
        self.view = view
        self.pages: list[list[str]] = []
        self.on_page: Callable[[int], Awaitable[None]] | None = None
        self.on_lists: Callable[[], Awaitable[None]] | None = None

    async def find_one(
        self, collection: str, document_id: str, *, without: Sequence[str] = ()
    ) -> Document | None:
        return await self.view.find_one(collection, document_id, without=without)

    async def find_many(
        self, collection: str, document_ids: Sequence[str], *, without: Sequence[str] = ()
    ) -> list[Document]:
        if collection == LISTS and self.on_lists is not None:
            await self.on_lists()
        if collection == CREDENTIALS:
            self.pages.append(list(document_ids))
            if self.on_page is not None:
                await self.on_page(len(self.pages))
        return await self.view.find_many(collection, document_ids, without=without)

    async def find_all(self, collection: str) -> list[Document]:
        return await self.view.find_all(collection)

    def read(self) -> list[str]:
        return [i for page in self.pages for i in page]


class World:
    """A view and its projection, the pathways, and back-fillers over a clock of its own."""

    def __init__(self) -> None:
        self.view = InMemoryView()
        self.store = InMemoryPathwayStore()
        self.publisher = InMemoryPublisher()
        self.now = START
        self.tracker = PathwayTracker(
            store=self.store,
            view=self.view,
            publisher=self.publisher,
            topic=TOPIC,
            source="urn:credreg:registry",
            clock=lambda: self.now,
        )
        self.projection = CredentialProjection(self.view, self.tracker)
        self.pathways = ManagePathways(tracker=self.tracker, view=self.view, clock=lambda: self.now)
        self.offsets = 0

    def backfiller(self, owner: str) -> tuple[Backfiller, RecordingView]:
        recording = RecordingView(self.view)
        found = Backfiller(self.tracker, recording, page=PAGE, owner=owner, clock=lambda: self.now)
        return found, recording

    async def issue(self, *grants: tuple[str, str]) -> list[str]:
        """One batch: a credential of `achievement` to `holder` for each grant; their ids."""
        envelopes, ids = [], []
        for holder, achievement in grants:
            self.offsets += 1
            credential_id = f"urn:uuid:00000000-0000-4000-9000-{self.offsets:012d}"
            data = samples.credential_issued(credential_id, holder).model_copy(
                update={"achievement_id": achievement, "issuer_id": ISSUER}
            )
            envelopes.append(new_envelope(data, source="urn:test", time=START))
            ids.append(credential_id)
        await self.projection.apply(
            [
                ConsumedEvent(e, "credreg.credentials", 0, self.offsets * 10 + n)
                for n, e in enumerate(envelopes)
            ]
        )
        return ids

    def completed(self) -> list[str]:
        """The holders of every `pathway.completed` on the log, in order."""
        return [
            from_record(r.key, r.value, list(r.headers)).data_as(models.PathwayCompleted).holder_id
            for r in self.publisher.on(TOPIC)
            if dict(r.headers)["ce_type"] == models.PathwayCompleted.event_type.encode()
        ]

    async def backfill(self, pathway_id: str) -> Backfill:
        found = await self.pathways.get(pathway_id, institution=ISSUER)
        assert found.backfill is not None
        return found.backfill

    async def queue(self) -> list[str]:
        found = await self.store.find_one(BACKFILL_QUEUE, QUEUE_ID)
        return list((found or {}).get("entries", []))


def holders(prefix: str, count: int) -> list[str]:
    return [f"did:example:{prefix}-{n}" for n in range(count)]


async def six_holders_of_a0(world: World) -> list[str]:
    """Six holders of A0, issued in three batches (3, 2, 1): three chunks of its list, which
    pages of two cross at every offset. Their credential ids, in list order."""
    learners = holders("h", 6)
    ids = await world.issue(*[(h, A0) for h in learners[:3]])
    ids += await world.issue(*[(h, A0) for h in learners[3:5]])
    ids += await world.issue((learners[5], A0))
    return ids


def only_a0(required: int | None = None) -> PathwayRequest:
    return PathwayRequest(name="Zero", achievement_ids=[A0], required=required)


async def test_the_backfill_walks_each_list_in_pages_and_completes_each_holder_once() -> None:
    world = World()
    first = await six_holders_of_a0(world)
    both = holders("h", 3)
    second = await world.issue(*[(h, A1) for h in both])
    request = PathwayRequest(name="Both", achievement_ids=[A0, A1])
    defined = await world.pathways.define("both", request, institution=ISSUER)
    assert defined.backfill is not None and defined.backfill.state == "pending"
    assert world.completed() == []
    assert await world.queue() != []

    backfiller, recording = world.backfiller("only")
    assert await backfiller.run_once() == 6  # A0: 2 + 2 + 2, its end; A1: 2, 1 and its end
    assert all(len(page) <= PAGE for page in recording.pages)
    assert recording.read() == first + second  # every id once, in list order
    assert sorted(world.completed()) == both
    for holder in holders("h", 6)[3:]:
        [progress] = await world.pathways.progress(holder)
        assert progress.summary == "1 of 2"
    backfill = await world.backfill("both")
    assert (backfill.state, backfill.credentials_seen) == ("done", 9)
    assert backfill.started_at == backfill.finished_at == START
    assert await world.queue() == []
    assert await backfiller.run_once() == 0
    assert sorted(world.completed()) == both


async def test_a_worker_stopped_mid_walk_resumes_where_it_left_off() -> None:
    world = World()
    ids = await six_holders_of_a0(world)
    await world.pathways.define("zero", only_a0(), institution=ISSUER)

    backfiller, recording = world.backfiller("first")
    worker = BackfillWorker(backfiller, poll=0)

    async def stop_after_the_second(page: int) -> None:
        if page == 2:
            worker.stop()

    recording.on_page = stop_after_the_second
    await worker.run()
    assert recording.read() == ids[:4]
    assert len(world.completed()) == 4
    found = await world.store.find_one("pathways", "zero")
    assert found is not None
    stopped = sweep_of(found)
    assert stopped is not None
    assert (stopped.state, stopped.owner, stopped.credentials_seen) == ("running", None, 4)

    # A new worker (another process) goes on from there: nothing read twice, nothing
    # completed twice, the counts go on from the first's.
    backfiller, recording = world.backfiller("second")
    worker = BackfillWorker(backfiller, poll=0)
    dequeue = world.store.dequeue_backfill

    async def stop_once_dequeued(entry: str) -> None:
        await dequeue(entry)
        worker.stop()

    world.store.dequeue_backfill = stop_once_dequeued  # type: ignore[method-assign]
    await worker.run()
    assert recording.read() == ids[4:]
    assert sorted(world.completed()) == holders("h", 6)
    backfill = await world.backfill("zero")
    assert (backfill.state, backfill.holders_seen, backfill.credentials_seen) == ("done", 6, 6)


async def test_a_crashed_workers_lease_is_taken_over_once_it_runs_out() -> None:
    world = World()
    ids = await six_holders_of_a0(world)
    await world.pathways.define("zero", only_a0(), institution=ISSUER)
    crashing, recording = world.backfiller("crashing")

    async def crash_on_the_second(page: int) -> None:
        if page == 2:
            raise RuntimeError("the process died")

    recording.on_page = crash_on_the_second
    with pytest.raises(RuntimeError):
        await crashing.run_once()

    # Its lease holds: another worker leaves the back-fill alone meanwhile.
    other, others = world.backfiller("other")
    assert await other.run_once() == 0
    assert others.pages == []
    world.now = START + timedelta(minutes=2)
    assert await other.run_once() == 3
    # From the page the crash cut short (read again: nothing of it was recorded), not from
    # the start; every holder completed once.
    assert others.read() == ids[2:]
    assert sorted(world.completed()) == holders("h", 6)
    assert (await world.backfill("zero")).state == "done"


async def test_a_redefinition_mid_walk_ends_with_the_newest_definitions_backfill() -> None:
    world = World()
    await six_holders_of_a0(world)
    newcomers = holders("k", 4)
    a1_ids = await world.issue(*[(k, A1) for k in newcomers])
    await world.pathways.define("p", only_a0(), institution=ISSUER)
    backfiller, recording = world.backfiller("only")
    redefined = PathwayRequest(name="One", achievement_ids=[A1])

    async def redefine_on_the_first(page: int) -> None:
        if page == 1:
            await world.pathways.define("p", redefined, institution=ISSUER)

    recording.on_page = redefine_on_the_first
    await backfiller.run_once()
    # The first page, already under way, looked at its holders with the definition it read;
    # then the walk of the old definition ended, and the new one's walked A1 only.
    assert recording.pages[1:] == [a1_ids[:2], a1_ids[2:]]
    completed = world.completed()
    assert sorted(c for c in completed if c.startswith("did:example:k")) == newcomers
    assert len(completed) == len(set(completed)) == 4 + PAGE
    kept = await world.pathways.get("p", institution=ISSUER)
    assert kept.achievement_ids == [A1]
    assert kept.backfill is not None and kept.backfill.state == "done"
    assert kept.backfill.credentials_seen == 4
    assert await world.queue() == []
    for holder in holders("h", 6)[PAGE:]:
        assert await world.pathways.progress(holder) == []


async def test_a_deleted_pathways_backfill_is_dropped_unwalked() -> None:
    world = World()
    await six_holders_of_a0(world)
    await world.pathways.define("zero", only_a0(), institution=ISSUER)
    await world.pathways.delete("zero", institution=ISSUER)
    backfiller, recording = world.backfiller("only")
    assert await backfiller.run_once() == 0
    assert recording.pages == []
    assert await world.queue() == []
    assert world.completed() == []


async def test_the_worker_waits_an_outage_out_and_goes_on() -> None:
    world = World()
    ids = await six_holders_of_a0(world)
    await world.pathways.define("zero", only_a0(), institution=ISSUER)
    backfiller, recording = world.backfiller("only")
    worker = BackfillWorker(backfiller, poll=0)

    async def down_on_the_second(page: int) -> None:
        if page == 2:
            raise StorageUnavailable("the database is unavailable")

    recording.on_page = down_on_the_second
    dequeue = world.store.dequeue_backfill

    async def stop_once_dequeued(entry: str) -> None:
        await dequeue(entry)
        worker.stop()

    world.store.dequeue_backfill = stop_once_dequeued  # type: ignore[method-assign]
    await worker.run()
    assert recording.read() == ids[:2] + ids[2:4] + ids[2:]  # the failed page read again
    assert sorted(world.completed()) == holders("h", 6)
    assert (await world.backfill("zero")).state == "done"


async def test_the_worker_ends_when_cancelled_even_if_the_read_fails_as_an_outage() -> None:
    world = World()
    await six_holders_of_a0(world)
    await world.pathways.define("zero", only_a0(), institution=ISSUER)
    backfiller, recording = world.backfiller("only")
    worker = BackfillWorker(backfiller, poll=0)
    entered, gate = asyncio.Event(), asyncio.Event()

    async def gated() -> None:
        # As a careless driver does: the connection closed under a cancelled call is
        # reported as the database being unavailable.
        entered.set()
        try:
            await gate.wait()
        except asyncio.CancelledError:
            raise StorageUnavailable("the database is unavailable (AutoReconnect)") from None

    recording.on_lists = gated
    task = asyncio.create_task(worker.run())
    await entered.wait()
    task.cancel()
    # A worker that absorbed its cancellation would poll on: the test's timeout fails it.
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recording.pages == []
