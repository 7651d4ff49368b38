"""``credreg registry rebuild``: replay the log into a fresh generation of the view, then switch.

1. The next generation gets an empty database (leftovers of an interrupted rebuild are dropped
   first) and a consumer group of its own, new for every attempt.
2. Its consumer replays ``credreg.credentials`` from the first offset, in large batches
   (``CREDREG_REBUILD_BATCH``), through the same projection as the service, until a fetch comes
   back short (the backlog is consumed).
3. The generation pointer moves (compare-and-set: a concurrent rebuild cannot both win). Every
   registry then consumes into the new generation from where the rebuild stopped, and moves its
   readers once caught up (``follower``).

Until step 3, the old generation serves as before: a rebuild killed halfway changes nothing that
anyone reads. The generation before the old one is dropped at the end (the old one stays, for a
rollback by moving the pointer back). Generation 0 lives in the base database beside the pointer,
so dropping it drops its collections only.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pymongo import AsyncMongoClient

from credreg_registry.adapters.mongo import MongoGenerationPointer, MongoViewStore
from credreg_registry.follower import view_consumer
from credreg_registry.layout import (
    BODIES,
    COUNTERS,
    CREDENTIALS,
    LINES,
    LIST_HEADS,
    LISTS,
    Generation,
    generation_database,
    generation_group,
)
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_shared.messaging import KafkaPublisher, kafka_client_options
from credreg_shared.messaging.consumer import ConsumerRunner
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.storage import connect
from credreg_shared.storage.ports import Document

log = logging.getLogger(__name__)


class RebuildRaced(Exception):
    """Another rebuild moved the pointer first; this generation was not switched to."""


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    generation: int
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Events replayed per second."""
        return self.events / self.seconds if self.seconds else 0.0


async def rebuild(
    settings: RegistrySettings, *, progress: Callable[[int], None] = lambda _n: None
) -> RebuildReport:
    """Replay the log into the next generation of the view and make it the serving one."""
    client = connect(settings)
    base = settings.mongodb_database
    try:
        pointer = MongoGenerationPointer(client[base])
        current = (await pointer.active(settings.consumer_group)).number
        attempt = uuid.uuid4().hex[:8]
        target = Generation(
            current + 1, generation_group(settings.consumer_group, current + 1, attempt)
        )
        await client.drop_database(generation_database(base, target.number))
        database = client[generation_database(base, target.number)]
        async with KafkaPublisher(**kafka_client_options(settings)) as dead_letters:
            consumer = view_consumer(
                settings,
                target.group,
                CredentialProjection(MongoViewStore(database)).register(HandlerRegistry()),
                dead_letters,
                max_records=settings.rebuild_batch,
            )
            started = time.perf_counter()
            await _replay(consumer, progress)
            seconds = time.perf_counter() - started
        if not await pointer.switch(current, target):
            raise RebuildRaced(f"the view pointer left generation {current} meanwhile")
        if current > 0:
            await _drop_generation(client, base, current - 1)
        return RebuildReport(target.number, consumer.stats.processed, seconds)
    finally:
        await client.close()


async def _replay(consumer: ConsumerRunner, progress: Callable[[int], None]) -> None:
    """Run `consumer` until it reached the end of the log; stop it however this ends."""
    task = asyncio.create_task(consumer.run(), name="rebuild")
    waiting = asyncio.create_task(consumer.caught_up.wait())
    try:
        while not consumer.caught_up.is_set() and not task.done():
            await asyncio.wait({waiting, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            progress(consumer.stats.processed)
    finally:
        waiting.cancel()
        consumer.stop()
        # Shielded: a cancelled rebuild still lets its consumer commit and leave the group.
        await asyncio.shield(task)


async def _drop_generation(client: AsyncMongoClient[Document], base: str, generation: int) -> None:
    """Drop an old generation; generation 0 shares the base database with the pointer."""
    if generation > 0:
        await client.drop_database(generation_database(base, generation))
        return
    for collection in (CREDENTIALS, BODIES, LINES, LISTS, LIST_HEADS, COUNTERS):
        await client[base].drop_collection(collection)
