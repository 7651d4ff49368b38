"""Holders' live-stream events in MongoDB, and this process's stream wake-ups.

Only single-document atomic operations and reads by ``_id`` (FerretDB on SQLite scans for
anything else): ``holder_counters`` ``{_id: holder, seq}`` counts each holder's events
(``$inc``); ``holder_event_ids`` ``{_id: "<holder>|<event id>", seq}`` gives each event its one
number (a redelivery finds it); ``holder_events`` ``{_id: "<holder>|<seq, 12 digits>",
event_id, type, body}`` holds the event, or ``{skipped: true}`` for a number a reader gave up
on. Both marks on a number are inserts of the same ``_id``, so exactly one of them wins.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_notifier.domain import HolderEvent
from credreg_notifier.ports import StreamItem
from credreg_shared.storage import Document, insert_new, storage_adapter

COUNTERS = "holder_counters"
EVENT_IDS = "holder_event_ids"
EVENTS = "holder_events"
SEQ_DIGITS = 12


def slot_id(holder_id: str, seq: int) -> str:
    """The ``_id`` of a holder's event number `seq` (zero-padded: ids sort as numbers)."""
    return f"{holder_id}|{seq:0{SEQ_DIGITS}d}"


@storage_adapter
class MongoHolderEvents:
    """``HolderEventStore`` over ``holder_counters``, ``holder_event_ids`` and ``holder_events``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.counters: AsyncCollection[Document] = db[COUNTERS]
        self.event_ids: AsyncCollection[Document] = db[EVENT_IDS]
        self.events: AsyncCollection[Document] = db[EVENTS]

    async def append_once(self, holder_id: str, *, event_id: str, kind: str, body: str) -> bool:
        """Write the event under its number; a number a reader skipped meanwhile is left for
        a new one."""
        seq = await self._number_of(holder_id, event_id)
        while True:
            slot = {"_id": slot_id(holder_id, seq), "event_id": event_id, "type": kind}
            try:
                await self.events.insert_one({**slot, "body": body})
                return True
            except DuplicateKeyError:
                pass
            found = await self.events.find_one({"_id": slot["_id"]}, {"event_id": 1})
            if found is not None and found.get("event_id") == event_id:
                return False  # written already: a redelivery
            seq = await self._renumber(holder_id, event_id, seq)

    async def append_many_once(self, items: Sequence[StreamItem]) -> list[bool]:
        """`append_once` of a batch's events in four commands plus one per event (its number),
        instead of four per event: the batch's number markers read in one ``$in``, written in
        one bulk, its slots in another. Whatever the bulk path cannot settle (a redelivery, a
        racing writer, a number a reader skipped meanwhile) goes the one-event way."""
        markers = [f"{holder}|{event_id}" for holder, event_id, _, _ in items]
        known = {
            str(found["_id"]) async for found in self.event_ids.find({"_id": {"$in": markers}})
        }
        numbered: list[tuple[int, int]] = []  # (position in items, number)
        seen: set[str] = set()
        for n, marker in enumerate(markers):
            if marker in known or marker in seen:
                continue
            seen.add(marker)
            numbered.append((n, await self._next(items[n][0])))
        taken = set(
            await insert_new(
                self.event_ids, [{"_id": markers[n], "seq": seq} for n, seq in numbered]
            )
        )
        numbered = [pair for i, pair in enumerate(numbered) if i not in taken]
        slots = [
            {"_id": slot_id(items[n][0], seq), "event_id": items[n][1], "type": items[n][2]}
            | {"body": items[n][3]}
            for n, seq in numbered
        ]
        clashed = set(await insert_new(self.events, slots))
        stored: dict[int, bool] = {n: True for i, (n, _) in enumerate(numbered) if i not in clashed}
        for n, (holder, event_id, kind, body) in enumerate(items):
            if n not in stored:
                stored[n] = await self.append_once(holder, event_id=event_id, kind=kind, body=body)
        return [stored[n] for n in range(len(items))]

    async def last_seq(self, holder_id: str) -> int:
        """The holder's counter."""
        found = await self.counters.find_one({"_id": holder_id})
        return int(found["seq"]) if found else 0

    async def last_seqs(self, holder_ids: Sequence[str]) -> dict[str, int]:
        """The counters of several holders, by ``_id $in``."""
        found = self.counters.find({"_id": {"$in": list(holder_ids)}})
        return {str(counter["_id"]): int(counter["seq"]) async for counter in found}

    async def read(self, holder_id: str, seqs: Sequence[int]) -> dict[int, HolderEvent | None]:
        """The written numbers among `seqs`, by ``_id $in``."""
        ids = [slot_id(holder_id, seq) for seq in seqs]
        found: dict[int, HolderEvent | None] = {}
        async for slot in self.events.find({"_id": {"$in": ids}}):
            seq = int(str(slot["_id"]).rsplit("|", 1)[1])
            found[seq] = None if slot.get("skipped") else _event(seq, slot)
        return found

    async def skip(self, holder_id: str, seq: int) -> None:
        """Take the number's slot with an empty mark, unless its event got there first."""
        with contextlib.suppress(DuplicateKeyError):
            await self.events.insert_one({"_id": slot_id(holder_id, seq), "skipped": True})

    async def _number_of(self, holder_id: str, event_id: str) -> int:
        marker = f"{holder_id}|{event_id}"
        found = await self.event_ids.find_one({"_id": marker})
        if found is not None:
            return int(found["seq"])
        seq = await self._next(holder_id)
        try:
            await self.event_ids.insert_one({"_id": marker, "seq": seq})
            return seq
        except DuplicateKeyError:
            # A racing redelivery numbered it first; our number stays empty (readers skip it).
            return await self._marked(marker)

    async def _renumber(self, holder_id: str, event_id: str, skipped: int) -> int:
        marker = f"{holder_id}|{event_id}"
        seq = await self._next(holder_id)
        moved = await self.event_ids.update_one(
            {"_id": marker, "seq": skipped}, {"$set": {"seq": seq}}
        )
        # Compare-and-set: a racing writer that moved it first decides the number.
        return seq if moved.matched_count else await self._marked(marker)

    async def _marked(self, marker: str) -> int:
        found = await self.event_ids.find_one({"_id": marker})
        if found is None:
            raise LookupError(f"event number {marker!r} vanished")  # never deleted
        return int(found["seq"])

    async def _next(self, holder_id: str) -> int:
        for _ in range(2):
            try:
                counter = await self.counters.find_one_and_update(
                    {"_id": holder_id},
                    {"$inc": {"seq": 1}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue  # two first upserts raced; the counter exists now
            if counter is not None:
                return int(counter["seq"])
        raise LookupError(f"no counter for {holder_id!r}")


def _event(seq: int, slot: Document) -> HolderEvent:
    return HolderEvent(
        seq=seq, event_id=str(slot["event_id"]), type=str(slot["type"]), body=str(slot["body"])
    )


class EventWakeup:
    """``HolderWakeup`` over an ``asyncio.Event``."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def clear(self) -> None:
        """Forget earlier calls."""
        self.event.clear()

    async def wait(self, seconds: float) -> bool:
        """Return when woken (True) or after `seconds` (False); a cancellation still
        propagates."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.event.wait()
        return self.event.is_set()

    def set(self) -> None:
        """Wake."""
        self.event.set()


class InProcessWakeups:
    """``HolderWakeups`` in this process: holder → its open streams' wake-ups (an entry lives
    only while its stream is open, so memory follows the open streams)."""

    def __init__(self) -> None:
        self.streams: dict[str, set[EventWakeup]] = {}

    @contextlib.contextmanager
    def listening(self, holder_id: str) -> Iterator[EventWakeup]:
        """Be woken for `holder_id` while inside."""
        wakeup = EventWakeup()
        self.streams.setdefault(holder_id, set()).add(wakeup)
        try:
            yield wakeup
        finally:
            open_streams = self.streams[holder_id]
            open_streams.discard(wakeup)
            if not open_streams:
                del self.streams[holder_id]

    def wake(self, holder_id: str) -> None:
        """Wake every stream of `holder_id`."""
        for wakeup in self.streams.get(holder_id, ()):
            wakeup.set()

    def listened(self) -> list[str]:
        """The holders with an open stream here."""
        return list(self.streams)
