"""One contract for `HolderEventStore`, run against the in-memory fake and MongoDB: numbering,
exactly once per event id, skipped numbers, and (on MongoDB) racing writers."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from credreg_notifier.adapters.fakes import InMemoryHolderEvents
from credreg_notifier.adapters.holder_events import COUNTERS, EVENT_IDS, MongoHolderEvents
from credreg_notifier.domain import HolderEvent
from credreg_notifier.ports import HolderEventStore
from credreg_shared.storage.ports import Document

from .test_repository_contract import service_db

HOLDER, OTHER = "did:example:ada", "did:example:bob"
KIND = "org.credreg.credential.revoked.v1"


class Crashes:
    """What a writer that died midway leaves behind, for each store."""

    async def counted(self, holder_id: str) -> int:
        """A number counted and never given to an event."""
        raise NotImplementedError

    async def numbered(self, holder_id: str, event_id: str) -> int:
        """A number given to `event_id`, its event never written."""
        raise NotImplementedError


async def add(store: HolderEventStore, event_id: str, holder_id: str = HOLDER) -> bool:
    return await store.append_once(holder_id, event_id=event_id, kind=KIND, body=f"b-{event_id}")


def event(seq: int, event_id: str) -> HolderEvent:
    return HolderEvent(seq, event_id, KIND, f"b-{event_id}")


class HolderEventContract:
    """The behaviour every `HolderEventStore` must have."""

    async def test_events_are_numbered_per_holder_once_each(self, store: HolderEventStore) -> None:
        assert await store.last_seq(HOLDER) == 0
        for event_id, holder in [("a", HOLDER), ("b", OTHER), ("c", HOLDER)]:
            assert await add(store, event_id, holder) is True
        assert await add(store, "a") is False
        assert await add(store, "c") is False
        assert await store.last_seq(HOLDER) == 2
        assert await store.read(HOLDER, [1, 2, 3]) == {1: event(1, "a"), 2: event(2, "c")}
        assert await store.read(OTHER, [1]) == {1: event(1, "b")}
        assert await store.last_seqs([HOLDER, OTHER, "nobody"]) == {HOLDER: 2, OTHER: 1}

    async def test_a_batch_is_numbered_in_order_once_each_like_one_at_a_time(
        self, store: HolderEventStore, crashes: Crashes
    ) -> None:
        assert await add(store, "old") is True  # stored before: a redelivery in the batch
        dead = await crashes.numbered(HOLDER, "lost")  # numbered by a writer that died
        await store.skip(HOLDER, dead + 1)  # a reader gave up on the next number already
        batch = [
            (HOLDER, "a", KIND, "b-a"),
            (OTHER, "b", KIND, "b-b"),
            (HOLDER, "old", KIND, "b-old"),
            (HOLDER, "c", KIND, "b-c"),
            (HOLDER, "a", KIND, "b-a"),  # the same event twice in one batch
            (HOLDER, "lost", KIND, "b-lost"),
        ]
        assert await store.append_many_once(batch) == [True, True, False, True, False, True]
        assert await store.append_many_once(batch) == [False] * len(batch), "redelivered"
        assert await store.append_many_once([]) == []
        stream = await store.read(HOLDER, list(range(1, await store.last_seq(HOLDER) + 1)))
        written = [e.event_id for _, e in sorted(stream.items()) if e is not None]
        # In order, but for an event whose number a reader skipped: it takes a later one.
        assert written[:2] == ["old", "lost"] and sorted(written[2:]) == ["a", "c"], stream
        assert await store.read(OTHER, [1, 2]) == {1: event(1, "b")}

    async def test_a_counted_number_is_absent_until_skipped(
        self, store: HolderEventStore, crashes: Crashes
    ) -> None:
        await add(store, "a")
        dead = await crashes.counted(HOLDER)
        await add(store, "b")
        assert await store.read(HOLDER, [1, 2, 3]) == {1: event(1, "a"), 3: event(3, "b")}
        await store.skip(HOLDER, dead)
        await store.skip(HOLDER, 3)  # written: stays as it is
        assert await store.read(HOLDER, [1, 2, 3]) == {1: event(1, "a"), 2: None, 3: event(3, "b")}

    async def test_an_event_whose_number_was_skipped_takes_a_later_one(
        self, store: HolderEventStore, crashes: Crashes
    ) -> None:
        dead = await crashes.numbered(HOLDER, "a")
        await store.skip(HOLDER, dead)
        assert await add(store, "a") is True
        assert await add(store, "a") is False
        assert await store.read(HOLDER, [1, 2, 3]) == {1: None, 2: event(2, "a")}

    async def test_an_event_numbered_by_a_dead_writer_keeps_its_number(
        self, store: HolderEventStore, crashes: Crashes
    ) -> None:
        await crashes.numbered(HOLDER, "a")
        assert await add(store, "a") is True
        assert await store.read(HOLDER, [1, 2]) == {1: event(1, "a")}
        assert await store.last_seq(HOLDER) == 1


class FakeCrashes(Crashes):
    def __init__(self, store: InMemoryHolderEvents) -> None:
        self.store = store

    async def counted(self, holder_id: str) -> int:
        return self.store.count(holder_id)

    async def numbered(self, holder_id: str, event_id: str) -> int:
        seq = self.store.count(holder_id)
        self.store.numbers[(holder_id, event_id)] = seq
        return seq


class MongoCrashes(Crashes):
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def counted(self, holder_id: str) -> int:
        counter = await self.db[COUNTERS].find_one_and_update(
            {"_id": holder_id}, {"$inc": {"seq": 1}}, upsert=True, return_document=True
        )
        assert counter is not None
        return int(counter["seq"])

    async def numbered(self, holder_id: str, event_id: str) -> int:
        seq = await self.counted(holder_id)
        await self.db[EVENT_IDS].insert_one({"_id": f"{holder_id}|{event_id}", "seq": seq})
        return seq


class TestInMemoryHolderEvents(HolderEventContract):
    @pytest.fixture
    def fake(self) -> InMemoryHolderEvents:
        return InMemoryHolderEvents()

    @pytest.fixture
    def store(self, fake: InMemoryHolderEvents) -> HolderEventStore:
        return fake

    @pytest.fixture
    def crashes(self, fake: InMemoryHolderEvents) -> Crashes:
        return FakeCrashes(fake)


@pytest.mark.integration
class TestMongoHolderEvents(HolderEventContract):
    @pytest.fixture
    async def db(self, mongo_db: AsyncDatabase[Document]) -> AsyncDatabase[Document]:
        return await service_db(mongo_db)

    @pytest.fixture
    def store(self, db: AsyncDatabase[Document]) -> HolderEventStore:
        return MongoHolderEvents(db)

    @pytest.fixture
    def crashes(self, db: AsyncDatabase[Document]) -> Crashes:
        return MongoCrashes(db)

    async def test_racing_writers_of_one_event_store_it_once(
        self, db: AsyncDatabase[Document]
    ) -> None:
        writers = [MongoHolderEvents(db) for _ in range(5)]
        added = await asyncio.gather(*(add(writer, "a") for writer in writers))
        assert sorted(added) == [False, False, False, False, True]
        last = await writers[0].last_seq(HOLDER)
        found = await writers[0].read(HOLDER, range(1, last + 1))
        assert [e.event_id for e in found.values() if e is not None] == ["a"]

    async def test_racing_writers_of_many_events_number_each_once(
        self, db: AsyncDatabase[Document]
    ) -> None:
        writers = [MongoHolderEvents(db) for _ in range(4)]
        ids = [f"e-{n}" for n in range(40)]
        await asyncio.gather(*(add(writers[n % 4], event_id) for n, event_id in enumerate(ids)))
        assert await writers[0].last_seq(HOLDER) == 40
        found = await writers[1].read(HOLDER, range(1, 41))
        assert sorted(e.event_id for e in found.values() if e is not None) == sorted(ids)

    async def test_racing_batches_of_the_same_events_store_each_once(
        self, db: AsyncDatabase[Document]
    ) -> None:
        writers = [MongoHolderEvents(db) for _ in range(3)]
        ids = [f"e-{n}" for n in range(12)]
        batches = [[(HOLDER, i, KIND, f"b-{i}") for i in ids[n::2] + ids] for n in range(3)]
        added = await asyncio.gather(
            *(w.append_many_once(b) for w, b in zip(writers, batches, strict=True))
        )
        assert sum(flag for flags in added for flag in flags) == len(ids), "stored once each"
        last = await writers[0].last_seq(HOLDER)
        found = await writers[1].read(HOLDER, range(1, last + 1))
        assert sorted(e.event_id for e in found.values() if e is not None) == sorted(ids)
