"""The consumer runner: one consumer group per service, at-least-once with commit-after-handle.

``await ConsumerRunner(...).run()`` fetches batches with ``getmany``, gives every record to a
`RecordProcessor` (parse → handlers with retry → or dead letter), and commits a partition's offset
only past records whose handlers returned (or that were skipped or dead-lettered). Partitions of
one batch are processed concurrently, each in offset order; with a batch handler
(`HandlerRegistry.register_batch`) the whole batch goes to it in one call instead, and the next
batch is fetched and parsed while the handler applies the current one (batches are still applied
one at a time, in order; ``caught_up`` is set only once the last one is applied). ``stop()``
(or SIGTERM via :func:`credreg_shared.messaging.signals.install_stop_signals`) lets the
in-flight batch finish, commits it and returns; a record waiting for a retry at that moment is
left uncommitted and is redelivered on restart. With a `commit_interval`, handled offsets are
gathered and committed at most that long after (sooner when idle, stopping, or giving partitions
up in a rebalance): a crash within it redelivers events the handlers apply once.
"""

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata

from credreg_shared.events.models import EVENT_MODELS, EventData
from credreg_shared.messaging import metrics
from credreg_shared.messaging.handlers import BatchHandler, HandlerRegistry
from credreg_shared.messaging.ports import RecordPublisher
from credreg_shared.messaging.processing import (
    AdmittedBatch,
    ConsumerStats,
    DeadLetterHook,
    InboundRecord,
    RecordProcessor,
    RetryAbandoned,
)
from credreg_shared.messaging.retry import RetryPolicy

log = logging.getLogger(__name__)


class ConsumerRunner:
    """Consumes `topics` as consumer group `group_id` and dispatches to `registry`'s handlers."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        registry: HandlerRegistry,
        dead_letters: RecordPublisher,
        retry: RetryPolicy | None = None,
        skip_unhandled_types: bool = True,
        max_records: int = 500,
        poll_timeout_ms: int = 1000,
        commit_interval: float = 0.0,
        client_id: str | None = None,
        consumer_options: Mapping[str, Any] | None = None,
        pattern: str | None = None,
        on_dead_letter: DeadLetterHook | None = None,
        models: Mapping[str, type[EventData]] = EVENT_MODELS,
        **client_options: Any,
    ) -> None:
        """`client_options`: the consumer's security options (``**kafka_client_options(s)``,
        which carries `bootstrap_servers` too); `models`: the model each event type is parsed
        into (a service may read an event through a subclass of its contract model)."""
        self.group_id = group_id
        self.topics = tuple(topics)
        self.pattern = pattern
        """A regular expression of topic names to subscribe to instead of `topics`."""
        self.stats = ConsumerStats()
        self._stopping = asyncio.Event()
        self._processor = RecordProcessor(
            group_id=group_id,
            registry=registry,
            dead_letters=dead_letters,
            retry=retry,
            skip_unhandled_types=skip_unhandled_types,
            stopping=self._stopping,
            stats=self.stats,
            on_dead_letter=on_dead_letter,
            models=models,
        )
        self._max_records = max_records
        self._poll_timeout_ms = poll_timeout_ms
        self._commit_interval = commit_interval
        """Seconds handled offsets may wait for their commit (0: committed after each batch);
        they are committed sooner when the consumer is idle, stops, or gives partitions up."""
        self._uncommitted: dict[TopicPartition, OffsetAndMetadata] = {}
        self._last_commit = 0.0
        self._consumer: AIOKafkaConsumer | None = None
        self._consumer_config: dict[str, Any] = {
            **client_options,
            "bootstrap_servers": bootstrap_servers,
            "group_id": group_id,
            "client_id": client_id or group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            **(consumer_options or {}),
        }
        # Held while a batch is processed and committed; a rebalance waits for it, so partitions
        # are handed over only with their processed offsets committed.
        self._batch_lock = asyncio.Lock()
        self._applying: asyncio.Task[None] | None = None
        """The batch being applied in the background while the next one is parsed."""
        self._rebalances = 0
        """Partitions revoked so far: a batch parsed before a revocation is not applied."""
        self.assigned = asyncio.Event()
        """Set once the group coordinator assigned this consumer its partitions."""
        self.caught_up = asyncio.Event()
        """Set once this consumer reached the end of its partitions (the backlog is consumed)."""

    def stop(self) -> None:
        """Ask `run` to finish the in-flight batch, commit it and return."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether stop was requested."""
        return self._stopping.is_set()

    def new_consumer(self) -> AIOKafkaConsumer:
        """The aiokafka consumer `run` uses (not started, not subscribed)."""
        return AIOKafkaConsumer(**self._consumer_config)

    async def run(self) -> None:
        """Consume until `stop`; raises if a dead letter cannot be published (nothing is lost)."""
        consumer = self.new_consumer()
        if self.pattern is not None:
            consumer.subscribe(pattern=self.pattern, listener=_FinishBatchOnRevoke(self))
        else:
            consumer.subscribe(list(self.topics), listener=_FinishBatchOnRevoke(self))
        await consumer.start()
        log.info(
            "consumer started",
            extra={"group": self.group_id, "topics": self.pattern or self.topics},
        )
        self._consumer = consumer
        try:
            while not self._stopping.is_set():
                timeout = self._poll_timeout_ms
                if self._uncommitted:
                    # Handled offsets wait no longer than the interval, traffic or not.
                    timeout = min(timeout, max(1, int(self._commit_interval * 1000)))
                batch = await consumer.getmany(timeout_ms=timeout, max_records=self._max_records)
                if not batch:
                    await self._finish_applying()
                    async with self._batch_lock:
                        await self._commit_uncommitted(consumer)  # idle: nothing to gather
                    if self.assigned.is_set():
                        self.caught_up.set()  # a whole poll timeout with nothing to fetch
                    continue
                batch_handler = self._processor.registry.batch_handler
                if batch_handler is not None:
                    await self._pipeline(consumer, batch, batch_handler)
                else:
                    async with self._batch_lock:
                        self._uncommitted.update(await self._process_batch(batch))
                        await self._commit_when_due(consumer)
                if not self.caught_up.is_set() and await _at_end(consumer):
                    await self._finish_applying()  # caught up means applied, not just fetched
                    self.caught_up.set()
        finally:
            try:
                # The batch in flight finishes (or, on cancellation, is cancelled), and what was
                # handled is committed before leaving, whatever ends the loop.
                await self._finish_applying(cancel=not self._stopping.is_set())
            finally:
                try:
                    await self._commit_uncommitted(consumer)
                finally:
                    await consumer.stop()
            log.info("consumer stopped", extra={"group": self.group_id})

    async def _pipeline(
        self,
        consumer: AIOKafkaConsumer,
        batch: Mapping[TopicPartition, Sequence[InboundRecord]],
        handler: BatchHandler,
    ) -> None:
        """Parse `batch` while the one before it is applied, then apply it in the background.

        Parsing is the consumer's own CPU and applying mostly waits for the database, so the two
        overlap. Batches are still applied one after another, in order. A batch parsed across a
        rebalance is dropped unapplied: its offsets stay uncommitted and it comes again.
        """
        rebalances = self._rebalances
        records = [record for partition_records in batch.values() for record in partition_records]
        admitted = await self._processor.admit_batch(records)
        await self._finish_applying()
        if self._stopping.is_set():
            return  # not applied, not committed: redelivered after the restart
        self._applying = asyncio.create_task(
            self._apply_admitted(consumer, admitted, handler, rebalances),
            name=f"{self.group_id}-apply",
        )

    async def _apply_admitted(
        self,
        consumer: AIOKafkaConsumer,
        admitted: AdmittedBatch,
        handler: BatchHandler,
        rebalances: int,
    ) -> None:
        """Apply a parsed batch and gather its offsets, unless a rebalance came in between."""
        async with self._batch_lock:
            if self._rebalances != rebalances:
                return  # its partitions may be another consumer's by now
            finished = await self._processor.apply_admitted(admitted, handler)
            self._uncommitted.update(
                {
                    TopicPartition(topic, partition): OffsetAndMetadata(next_offset, "")
                    for (topic, partition), next_offset in finished.items()
                }
            )
            await self._commit_when_due(consumer)

    async def _finish_applying(self, *, cancel: bool = False) -> None:
        """Wait for the batch being applied (its failure is raised here); `cancel`: stop it."""
        applying, self._applying = self._applying, None
        if applying is None:
            return
        if cancel:
            applying.cancel()
            await asyncio.wait({applying})  # our own cancellation still raises here
            return
        await applying

    async def _commit_when_due(self, consumer: AIOKafkaConsumer) -> None:
        if time.monotonic() - self._last_commit >= self._commit_interval:
            await self._commit_uncommitted(consumer)

    async def _process_batch(
        self, batch: Mapping[TopicPartition, Sequence[InboundRecord]]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """Per-event handlers: each partition's records in order; the offsets safe to commit."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = {
                    partition: group.create_task(self._process_partition(records))
                    for partition, records in batch.items()
                }
        except ExceptionGroup as failures:
            # Surface the cause itself; the uncommitted records are redelivered after restart.
            raise failures.exceptions[0] from failures
        return {
            partition: OffsetAndMetadata(next_offset, "")
            for partition, task in tasks.items()
            if (next_offset := task.result()) is not None
        }

    async def _process_partition(self, records: Sequence[InboundRecord]) -> int | None:
        """The offset after the last record finished with, or None if none was."""
        next_offset: int | None = None
        for record in records:
            try:
                await self._processor.process(record)
            except RetryAbandoned:
                break
            next_offset = record.offset + 1
        return next_offset

    async def _commit_uncommitted(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the handled offsets kept since the last commit."""
        offsets, self._uncommitted = self._uncommitted, {}
        self._last_commit = time.monotonic()
        await self._commit(consumer, offsets)

    async def _commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        """Commit `offsets`; a commit refused by a rebalance only means redelivery."""
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError):
            self.stats.commit_failures += 1
            metrics.COMMIT_FAILURES.labels(self.group_id).inc()
            # Handlers are idempotent per event id, so the redelivery this causes is harmless.
            log.warning(
                "offset commit refused; the batch will be redelivered",
                exc_info=True,
                extra={"group": self.group_id},
            )
            return
        self.stats.commits += 1


async def _at_end(consumer: AIOKafkaConsumer) -> bool:
    """Whether the consumer's position reached the high watermark of every assigned partition."""
    partitions = consumer.assignment()
    if not partitions:
        return False
    for partition in partitions:
        highwater = consumer.highwater(partition)
        if highwater is None or await consumer.position(partition) < highwater:
            return False
    return True


class _FinishBatchOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Lets a rebalance take partitions away only between batches (after their commit)."""

    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._runner._batch_lock:
            # Handled offsets go with the partitions: their next owner starts after them.
            if self._runner._consumer is not None:
                await self._runner._commit_uncommitted(self._runner._consumer)
            self._runner._rebalances += 1
            self._runner.assigned.clear()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._runner.assigned.set()
