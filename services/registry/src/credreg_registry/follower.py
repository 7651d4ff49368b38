"""The registry's consumer, following the generation of the view that serves.

Generation 0 is the base database and consumer group; the pointer names the others' groups.
`credreg registry rebuild` replays the log into the next generation, then moves the pointer;
every registry notices within
`poll_seconds`, starts consuming into the new generation (from where the rebuild stopped), and
switches its readers once that consumer has caught up. Only then does it stop the old
consumer, so readers always see a complete view: the old one, then the new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from credreg_registry.adapters.mongo import (
    MongoGenerationPointer,
    MongoViewStore,
    SwitchableViewDocuments,
)
from credreg_registry.layout import Generation, generation_database
from credreg_registry.ports import ViewStore
from credreg_registry.view_events import VIEW_MODELS
from credreg_shared.errors import StorageUnavailable
from credreg_shared.messaging.consumer import ConsumerRunner
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.messaging.ports import RecordPublisher
from credreg_shared.messaging.processing import ConsumerStats
from credreg_shared.runtime import credentials_consumer
from credreg_shared.settings import ServiceSettings
from credreg_shared.storage.ports import Document
from credreg_shared.workers import StoppableLoop

log = logging.getLogger(__name__)


def view_consumer(
    settings: ServiceSettings,
    group: str,
    registry: HandlerRegistry,
    dead_letters: RecordPublisher,
    *,
    max_records: int = 500,
) -> ConsumerRunner:
    """The consumer that writes one generation of the view (`group` names the generation),
    `max_records` events at a time when that many are waiting."""
    return credentials_consumer(
        settings,
        registry,
        dead_letters,
        group=group,
        max_records=max_records,
        # With three partitions, one fetch round then holds a whole batch of ~4 KB events.
        fetch_bytes_per_partition=max(1 << 20, max_records * 2048),
        models=VIEW_MODELS,
    )


class ViewFollower:
    """A `Worker`: consumes into the serving generation and moves readers when it changes."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        client: AsyncMongoClient[Document],
        dead_letters: RecordPublisher,
        documents: SwitchableViewDocuments,
        registry_for: Callable[[ViewStore], HandlerRegistry],
        poll_seconds: float = 2.0,
        batch: int = 500,
        on_serving: Callable[[int], None] = lambda _generation: None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.dead_letters = dead_letters
        self.documents = documents
        self.registry_for = registry_for
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.on_serving = on_serving
        """Told the generation readers are served from, at start and after every switch."""
        self.pointer = MongoGenerationPointer(client[settings.mongodb_database])
        self.generation = 0
        self.runner: ConsumerRunner | None = None
        self._loop = StoppableLoop()

    @property
    def stats(self) -> ConsumerStats:
        """The counts of the consumer that writes the serving generation."""
        return self.runner.stats if self.runner else ConsumerStats()

    def stop(self) -> None:
        """Finish the in-flight batch, commit it and return."""
        self._loop.stop()
        if self.runner is not None:
            self.runner.stop()

    async def run(self) -> None:
        """Consume into the serving generation until stopped, following every switch."""
        serving = await self.pointer.active(self.settings.consumer_group)
        self.generation = serving.number
        self.documents.switch_to(self._database(serving.number))
        self.on_serving(serving.number)
        runner, task = self._start(serving)
        try:
            while not self._loop.stopping:
                await self._loop.pause(self.poll_seconds)
                if task.done():
                    break
                target = await self._target()
                if target is None or target.number == self.generation:
                    continue
                runner, task = await self._switch(runner, task, target)
        finally:
            runner.stop()
            await task

    def _start(self, generation: Generation) -> tuple[ConsumerRunner, asyncio.Task[None]]:
        store = MongoViewStore(self._database(generation.number))
        runner = view_consumer(
            self.settings,
            generation.group,
            self.registry_for(store),
            self.dead_letters,
            max_records=self.batch,
        )
        self.runner = runner
        return runner, asyncio.create_task(runner.run(), name=f"view-g{generation.number}")

    async def _switch(
        self, old: ConsumerRunner, old_task: asyncio.Task[None], target: Generation
    ) -> tuple[ConsumerRunner, asyncio.Task[None]]:
        """Catch the new generation up, move the readers, then stop the old consumer."""
        log.info("view generation %d serves now; catching up", target.number)
        runner, task = self._start(target)
        caught_up = asyncio.create_task(runner.caught_up.wait())
        stopped = asyncio.create_task(self._loop.stopped())
        await asyncio.wait({caught_up, stopped, task}, return_when=asyncio.FIRST_COMPLETED)
        caught_up.cancel()
        stopped.cancel()
        if runner.caught_up.is_set():
            self.documents.switch_to(self._database(target.number))
            self.generation = target.number
            self.on_serving(target.number)
            log.info("readers moved to view generation %d", target.number)
        old.stop()
        await old_task
        return runner, task

    async def _target(self) -> Generation | None:
        try:
            return await self.pointer.active(self.settings.consumer_group)
        except StorageUnavailable:
            return None  # the consumer retries its own writes; look again next time

    def _database(self, generation: int) -> AsyncDatabase[Document]:
        return self.client[generation_database(self.settings.mongodb_database, generation)]
