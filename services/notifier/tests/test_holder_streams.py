"""Holders' live streams over fakes: the store numbers each event once, the projection fills
it, a stream replays after a number, follows new events and skips dead writers' numbers, and
the watcher wakes streams for events stored elsewhere."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator

import pytest

from credreg_notifier.adapters.fakes import (
    InMemoryDeliveries,
    InMemoryHolderEvents,
    InMemorySubscriptions,
)
from credreg_notifier.adapters.holder_events import InProcessWakeups
from credreg_notifier.domain import HolderEvent, NotYourStream, notice_body
from credreg_notifier.projection import DeliveryPlanner
from credreg_notifier.use_cases import HolderStreams, StreamTiming
from credreg_notifier.workers import StreamWatcher
from credreg_shared.callers import Caller
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import Envelope

HOLDER, OTHER = "did:example:ada", "did:example:bob"
PATIENCE = 10.0
REVOKED = "org.credreg.credential.revoked.v1"


def revoked(holder_id: str = HOLDER) -> Envelope:
    return samples.sample_envelope(samples.credential_revoked(holder_id=holder_id))


async def add(store: InMemoryHolderEvents, event_id: str, holder_id: str = HOLDER) -> bool:
    return await store.append_once(holder_id, event_id=event_id, kind=REVOKED, body=event_id)


def streams_over(
    store: InMemoryHolderEvents,
    wakeups: InProcessWakeups | None = None,
    *,
    poll_seconds: float = 0.01,
    clock_step: float = 0.0,
) -> HolderStreams:
    ticks = itertools.count(step=clock_step) if clock_step else itertools.repeat(0.0)
    return HolderStreams(
        events=store,
        wakeups=wakeups or InProcessWakeups(),
        timing=StreamTiming(
            poll_seconds=poll_seconds, recheck_seconds=poll_seconds, gap_grace_seconds=1.0
        ),
        clock=lambda: float(next(ticks)),
    )


async def take(stream: AsyncGenerator[HolderEvent], count: int) -> list[HolderEvent]:
    """The next `count` events of `stream`, waiting at most `PATIENCE` seconds."""
    async with asyncio.timeout(PATIENCE):
        return [await anext(stream) for _ in range(count)]


async def test_a_redelivered_event_is_stored_once() -> None:
    store = InMemoryHolderEvents()
    assert await add(store, "e-1") is True
    assert await add(store, "e-1") is False
    assert await store.last_seq(HOLDER) == 1
    assert await store.read(HOLDER, [1, 2]) == {1: HolderEvent(1, "e-1", REVOKED, "e-1")}


async def test_events_are_numbered_in_the_order_stored_per_holder() -> None:
    store = InMemoryHolderEvents()
    for event_id, holder in [("a", HOLDER), ("b", OTHER), ("c", HOLDER), ("d", HOLDER)]:
        await add(store, event_id, holder)
    found = await store.read(HOLDER, [1, 2, 3])
    assert [(seq, e.event_id if e else None) for seq, e in sorted(found.items())] == [
        (1, "a"),
        (2, "c"),
        (3, "d"),
    ]
    assert await store.last_seq(OTHER) == 1


async def test_an_event_whose_number_was_skipped_takes_a_later_one_once() -> None:
    store = InMemoryHolderEvents()
    # A writer numbered "e-1" and died before writing it; a reader gave up on the number.
    store.numbers[(HOLDER, "e-1")] = store.count(HOLDER)
    await store.skip(HOLDER, 1)
    assert await add(store, "e-1") is True
    assert await add(store, "e-1") is False
    assert await store.read(HOLDER, [1, 2, 3]) == {
        1: None,
        2: HolderEvent(2, "e-1", REVOKED, "e-1"),
    }


async def test_a_stream_replays_after_its_number_then_follows_new_events() -> None:
    store = InMemoryHolderEvents()
    for n in range(1, 6):
        await add(store, f"e-{n}")
    stream = streams_over(store).follow(HOLDER, after=2)
    try:
        assert [e.seq for e in await take(stream, 3)] == [3, 4, 5]
        await add(store, "e-6")
        await add(store, "e-5")  # redelivered: not sent again
        await add(store, "e-7")
        assert [(e.seq, e.event_id) for e in await take(stream, 2)] == [(6, "e-6"), (7, "e-7")]
    finally:
        await stream.aclose()


async def test_a_stream_reads_past_a_page_in_order() -> None:
    store = InMemoryHolderEvents()
    for n in range(1, 251):
        await add(store, f"e-{n}")
    stream = streams_over(store).follow(HOLDER, after=0)
    try:
        assert [e.seq for e in await take(stream, 250)] == list(range(1, 251))
    finally:
        await stream.aclose()


async def test_a_stream_waits_for_a_counted_number_then_skips_it_after_the_grace() -> None:
    store = InMemoryHolderEvents()
    await add(store, "e-1")
    store.count(HOLDER)  # number 2: its writer died between counting and writing
    await add(store, "e-3")
    # Each clock reading is 0.4 s after the last: the grace (1 s) runs out on the third look.
    stream = streams_over(store, clock_step=0.4).follow(HOLDER, after=0)
    try:
        assert [(e.seq, e.event_id) for e in await take(stream, 2)] == [(1, "e-1"), (3, "e-3")]
        assert (await store.read(HOLDER, [2])) == {2: None}
    finally:
        await stream.aclose()


async def test_a_stream_waits_for_a_number_written_within_the_grace() -> None:
    store = InMemoryHolderEvents()
    store.numbers[(HOLDER, "slow")] = store.count(HOLDER)  # counted, being written
    stream = streams_over(store).follow(HOLDER, after=0)  # the clock stands still
    try:
        waiting = asyncio.ensure_future(take(stream, 1))
        await asyncio.sleep(0.05)  # several polls pass meanwhile
        assert not waiting.done()
        await add(store, "slow")
        assert [(e.seq, e.event_id) for e in await waiting] == [(1, "slow")]
    finally:
        await stream.aclose()


async def test_its_own_consumer_wakes_a_stream_before_the_next_poll() -> None:
    store, wakeups = InMemoryHolderEvents(), InProcessWakeups()
    planner = DeliveryPlanner(
        subscriptions=InMemorySubscriptions(),
        deliveries=InMemoryDeliveries(),
        holder_events=store,
        wakeups=wakeups,
    )
    # A poll an hour apart: only the wake-up can bring the event within the test's patience.
    stream = streams_over(store, wakeups, poll_seconds=3600).follow(HOLDER, after=0)
    try:
        waiting = asyncio.ensure_future(take(stream, 1))
        await asyncio.sleep(0.01)  # the stream reads (nothing) and sleeps
        envelope = revoked()
        await planner.on_credential_event(envelope)
        [event] = await waiting
        assert (event.event_id, event.type, event.body) == (
            envelope.id,
            envelope.type,
            notice_body(envelope),
        )
    finally:
        await stream.aclose()
    assert wakeups.streams == {}


class CountedCounterReads(InMemoryHolderEvents):
    """Counts reads of a holder's counter."""

    def __init__(self) -> None:
        super().__init__()
        self.counter_reads = 0

    async def last_seq(self, holder_id: str) -> int:
        self.counter_reads += 1
        return await super().last_seq(holder_id)


async def test_a_woken_stream_reads_each_new_event_without_its_counter() -> None:
    store, wakeups = CountedCounterReads(), InProcessWakeups()
    stream = streams_over(store, wakeups, poll_seconds=3600).follow(HOLDER, after=0)
    try:
        waiting = asyncio.ensure_future(take(stream, 1))
        await asyncio.sleep(0.01)  # the stream reads its counter (nothing yet) and sleeps
        before = store.counter_reads
        for event_id in ("a", "b"):
            await add(store, event_id)
            wakeups.wake(HOLDER)
            [event] = await waiting
            assert event.event_id == event_id
            waiting = asyncio.ensure_future(take(stream, 1))
            await asyncio.sleep(0.01)
        assert store.counter_reads == before, "a woken stream read its counter"
        # A number counted but not written yet: the counter shows it, and the stream waits.
        await store.skip(HOLDER, 3)
        await add(store, "d")
        wakeups.wake(HOLDER)
        [event] = await waiting
        assert event.event_id == "d"
    finally:
        await stream.aclose()


async def test_the_projection_stores_a_redelivered_event_once() -> None:
    store = InMemoryHolderEvents()
    planner = DeliveryPlanner(
        subscriptions=InMemorySubscriptions(), deliveries=InMemoryDeliveries(), holder_events=store
    )
    envelope = revoked()
    for _ in range(3):
        await planner.on_credential_event(envelope)
    await planner.on_credential_event(revoked(OTHER))
    assert await store.last_seq(HOLDER) == 1
    assert await store.last_seq(OTHER) == 1


async def test_a_cancelled_stream_raises_and_stops_listening() -> None:
    wakeups = InProcessWakeups()
    stream = streams_over(InMemoryHolderEvents(), wakeups, poll_seconds=3600)
    task = asyncio.ensure_future(take(stream.follow(HOLDER, after=0), 1))
    await asyncio.sleep(0.01)
    assert HOLDER in wakeups.streams
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(PATIENCE):
            await task
    assert wakeups.streams == {}


def test_only_the_holder_itself_opens_its_stream() -> None:
    streams = streams_over(InMemoryHolderEvents())
    for stranger in (Caller(holder_id=OTHER), Caller(institution="did:web:uni.example")):
        with pytest.raises(NotYourStream):
            streams.open(HOLDER, stranger, after=0)


async def test_the_watcher_wakes_a_stream_for_an_event_another_replica_stored() -> None:
    store, wakeups = InMemoryHolderEvents(), InProcessWakeups()
    watcher = StreamWatcher(events=store, wakeups=wakeups, poll_seconds=3600)
    stream = streams_over(store, wakeups, poll_seconds=3600).follow(HOLDER, after=0)
    try:
        waiting = asyncio.ensure_future(take(stream, 1))
        await asyncio.sleep(0.01)  # the stream reads (nothing) and sleeps for an hour
        await watcher.watch_once()  # first look at this holder: a wake-up, nothing to read
        await asyncio.sleep(0.01)
        await add(store, "elsewhere")  # stored by another process's consumer: no wake-up
        await watcher.watch_once()
        assert [e.event_id for e in await waiting] == ["elsewhere"]
    finally:
        await stream.aclose()


async def test_the_watcher_wakes_only_holders_whose_counter_moved() -> None:
    store, wakeups = InMemoryHolderEvents(), InProcessWakeups()
    watcher = StreamWatcher(events=store, wakeups=wakeups, poll_seconds=3600)
    with wakeups.listening(HOLDER) as ada, wakeups.listening(OTHER) as bob:
        await add(store, "a-1")
        await watcher.watch_once()
        assert watcher.seen == {HOLDER: 1, OTHER: 0}
        ada.clear()
        bob.clear()
        await add(store, "b-1", OTHER)
        await watcher.watch_once()
        assert (ada.event.is_set(), bob.event.is_set()) == (False, True)
    await watcher.watch_once()
    assert watcher.seen == {}
