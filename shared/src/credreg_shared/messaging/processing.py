"""What a consumer does with one record: parse, dispatch, retry, dead-letter; no Kafka client.

`RecordProcessor.process` returns once the record is finished with (its handlers returned, it
was skipped, or it is in the dead-letter topic), so the caller may commit past it; it raises
`RetryAbandoned` when asked to stop while waiting to retry (the record is not finished).

`RecordProcessor.process_batch` does the same for a whole fetched batch and the registry's batch
handler: one call for every admitted event; if that call fails, the events go through the handler
one at a time, with the usual retries and dead letters, so one poison event never blocks the rest.

A record whose `ce_type` header names a known event type that no handler takes is skipped
without being parsed (unless the service asks for every type): whether it is valid is the
business of the consumer groups that take that type, which dead-letter it when it is not.
"""

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from credreg_shared.events.cloudevents import Envelope, InvalidEvent, from_record, named_type
from credreg_shared.events.models import EVENT_MODELS, EventData
from credreg_shared.events.topics import dlq_topic
from credreg_shared.events.upcasters import current_type
from credreg_shared.messaging import metrics
from credreg_shared.messaging.dead_letters import dead_letter_headers
from credreg_shared.messaging.handlers import (
    BatchHandler,
    ConsumedEvent,
    HandlerRegistry,
    UnprocessableEvent,
)
from credreg_shared.messaging.ports import RecordPublisher
from credreg_shared.messaging.retry import RetryPolicy

log = logging.getLogger(__name__)


class InboundRecord(Protocol):
    """The parts of a consumed Kafka record the processor reads (aiokafka's ConsumerRecord)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class Outcome(StrEnum):
    """How a record was finished with; every outcome may be committed."""

    PROCESSED = "processed"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"


class RetryAbandoned(Exception):
    """Stop was requested while a record waited to be retried; it must not be committed."""


@dataclass
class ConsumerStats:
    """Running counts of one consumer, for tests and quick inspection."""

    processed: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    failed_attempts: int = 0
    commits: int = 0
    commit_failures: int = 0

    def count(self, outcome: Outcome) -> None:
        """Add one finished record."""
        match outcome:
            case Outcome.PROCESSED:
                self.processed += 1
            case Outcome.SKIPPED:
                self.skipped += 1
            case Outcome.DEAD_LETTERED:
                self.dead_lettered += 1


DeadLetterHook = Callable[[InboundRecord, str], Awaitable[None]]
"""Called with a dead-lettered record and the error, once the dead letter is acknowledged."""


ADMIT_SLICE = 32
"""Records parsed between two yields to the event loop (~2-5 ms of parsing)."""


@dataclass
class AdmittedBatch:
    """A fetched batch once parsed: what goes to the batch handler, and what is done already."""

    records: Sequence[InboundRecord]
    admitted: list[tuple[InboundRecord, Envelope]] = field(default_factory=list)
    finished: set[int] = field(default_factory=set)
    """Records finished at admission (skipped or dead-lettered), by identity: aiokafka's
    records are unhashable dataclasses."""


class RecordProcessor:
    """Parses a record, runs its handlers with retries, dead-letters what cannot be processed."""

    def __init__(
        self,
        *,
        group_id: str,
        registry: HandlerRegistry,
        dead_letters: RecordPublisher,
        retry: RetryPolicy | None = None,
        skip_unhandled_types: bool = True,
        stopping: asyncio.Event | None = None,
        stats: ConsumerStats | None = None,
        on_dead_letter: DeadLetterHook | None = None,
        models: Mapping[str, type[EventData]] = EVENT_MODELS,
    ) -> None:
        self.models = models
        """The model each event type is parsed into (the shared contract's by default)."""
        self.on_dead_letter = on_dead_letter
        """Told of every record after it went to the dead-letter topic (to answer its sender)."""
        self.group_id = group_id
        self.registry = registry
        self.dead_letters = dead_letters
        self.retry = retry or RetryPolicy()
        self.skip_unhandled_types = skip_unhandled_types
        self.stopping = stopping or asyncio.Event()
        self.stats = stats or ConsumerStats()

    async def process(self, record: InboundRecord) -> Outcome:
        """Finish with one record; see the module docstring for the contract."""
        outcome = await self._finish(record)
        self._count(record, outcome)
        return outcome

    async def process_batch(
        self, records: Sequence[InboundRecord], handler: BatchHandler
    ) -> dict[tuple[str, int], int]:
        """Finish with a batch through `handler`; the next offset of each finished partition.

        A partition's offset stops before the first record left unfinished (`RetryAbandoned`
        while one event at a time was being retried).
        """
        return await self.apply_admitted(await self.admit_batch(records), handler)

    async def admit_batch(self, records: Sequence[InboundRecord]) -> AdmittedBatch:
        """Parse a batch: its envelopes for the handler; the rest skipped or dead-lettered."""
        batch = AdmittedBatch(records)
        for n, record in enumerate(records, start=1):
            if n % ADMIT_SLICE == 0:
                # Parsing is CPU only: let the batch being applied meanwhile send its next write
                # as soon as the database answered the last one, rather than after the whole batch.
                await asyncio.sleep(0)
            envelope = await self._admit(record)
            if envelope is None:
                batch.finished.add(id(record))
            else:
                batch.admitted.append((record, envelope))
        return batch

    async def apply_admitted(
        self, batch: AdmittedBatch, handler: BatchHandler
    ) -> dict[tuple[str, int], int]:
        """Run `handler` over an admitted batch; the next offset of each finished partition."""
        finished = set(batch.finished)
        if batch.admitted:
            finished.update(map(id, await self._apply_batch(batch.admitted, handler)))
        return _committable(batch.records, finished)

    async def _apply_batch(
        self, admitted: Sequence[tuple[InboundRecord, Envelope]], handler: BatchHandler
    ) -> list[InboundRecord]:
        """The records finished with: all of them, unless a stop cut the one-at-a-time path."""
        started = time.perf_counter()
        try:
            await handler([_consumed(record, envelope) for record, envelope in admitted])
        except Exception:
            self.stats.failed_attempts += 1
            log.warning("batch failed; applying its events one at a time", exc_info=True)
            return await self._one_at_a_time(admitted, handler)
        metrics.HANDLER_SECONDS.labels(self.group_id, "batch").observe(
            time.perf_counter() - started
        )
        for record, _envelope in admitted:
            self._count(record, Outcome.PROCESSED)
        return [record for record, _envelope in admitted]

    async def _one_at_a_time(
        self, admitted: Sequence[tuple[InboundRecord, Envelope]], handler: BatchHandler
    ) -> list[InboundRecord]:
        finished = []
        for record, envelope in admitted:
            run = functools.partial(handler, [_consumed(record, envelope)])
            try:
                outcome = await self._handle_with_retries(record, envelope, run)
            except RetryAbandoned:
                break
            self._count(record, outcome)
            finished.append(record)
        return finished

    def _count(self, record: InboundRecord, outcome: Outcome) -> None:
        self.stats.count(outcome)
        metrics.CONSUMED_RECORDS.labels(self.group_id, record.topic, outcome.value).inc()

    async def _admit(self, record: InboundRecord) -> Envelope | None:
        """The record's envelope when a handler takes it; else dead-lettered or skipped (None)."""
        routed = await self._route(record)
        if isinstance(routed, Outcome):
            self._count(record, routed)
            return None
        return routed

    async def _finish(self, record: InboundRecord) -> Outcome:
        routed = await self._route(record)
        if isinstance(routed, Outcome):
            return routed
        return await self._handle_with_retries(record, routed, lambda: self._run_handlers(routed))

    async def _route(self, record: InboundRecord) -> Envelope | Outcome:
        """The envelope of a record some handler takes; else how it was finished with."""
        if self.skip_unhandled_types and self._known_but_unhandled(record):
            # Skipped unparsed: parsing it is the work of the consumers that take its type (the
            # issuer would otherwise decode every 4 KB credential it issued, to drop it), and a
            # malformed one is theirs to dead-letter.
            return Outcome.SKIPPED
        try:
            envelope = from_record(record.key, record.value, record.headers, models=self.models)
        except InvalidEvent as exc:
            await self._dead_letter(
                record, error=str(exc), error_type=f"invalid_event.{exc.reason}", attempts=0
            )
            return Outcome.DEAD_LETTERED
        if self.registry.handles(envelope.type):
            return envelope
        if self.skip_unhandled_types:
            return Outcome.SKIPPED
        await self._dead_letter(
            record,
            error=f"no handler for {envelope.type} in {self.group_id}",
            error_type="unhandled_type",
            attempts=0,
        )
        return Outcome.DEAD_LETTERED

    def _known_but_unhandled(self, record: InboundRecord) -> bool:
        """Whether the record names a known event type that no handler here takes."""
        named = named_type(record.headers)
        current = current_type(named) if named is not None else None
        return current is not None and current in self.models and not self.registry.handles(current)

    async def _run_handlers(self, envelope: Envelope) -> None:
        for handler in self.registry.handlers_for(envelope.type):
            await handler(envelope)

    async def _handle_with_retries(
        self, record: InboundRecord, envelope: Envelope, run: Callable[[], Awaitable[None]]
    ) -> Outcome:
        attempts = 0
        while True:
            attempts += 1
            started = time.perf_counter()
            try:
                await run()
            except UnprocessableEvent as exc:
                await self._dead_letter(
                    record,
                    error=f"{type(exc).__name__}: {exc}",
                    error_type="unprocessable",
                    attempts=attempts,
                )
                return Outcome.DEAD_LETTERED
            except Exception as exc:
                self.stats.failed_attempts += 1
                metrics.HANDLER_FAILURES.labels(self.group_id, envelope.type).inc()
                if not self.retry.should_retry(exc, attempts):
                    log.exception(
                        "handler kept failing; dead-lettering the event",
                        extra=_context(record, envelope, attempts),
                    )
                    await self._dead_letter(
                        record,
                        error=f"{type(exc).__name__}: {exc}",
                        error_type=f"handler_failed.{type(exc).__name__}",
                        attempts=attempts,
                    )
                    return Outcome.DEAD_LETTERED
                delay = self.retry.delay_after(attempts)
                log.warning(
                    "handler failed; retrying in %.2fs",
                    delay,
                    exc_info=True,
                    extra=_context(record, envelope, attempts),
                )
                await self._wait_unless_stopping(delay)
                continue
            metrics.HANDLER_SECONDS.labels(self.group_id, envelope.type).observe(
                time.perf_counter() - started
            )
            return Outcome.PROCESSED

    async def _wait_unless_stopping(self, delay: float) -> None:
        """Sleep `delay` seconds; raise `RetryAbandoned` at once if stop is requested."""
        if self.stopping.is_set():
            raise RetryAbandoned
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=delay)
        except TimeoutError:
            return
        raise RetryAbandoned

    async def _dead_letter(
        self, record: InboundRecord, *, error: str, error_type: str, attempts: int
    ) -> None:
        """Copy the record to ``<topic>.dlq`` with the error headers; returns after the ack."""
        log.error(
            "dead-lettering record: %s",
            error_type,
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "group": self.group_id,
                "error": error,
            },
        )
        await self.dead_letters.publish_record(
            dlq_topic(record.topic),
            key=record.key,
            value=record.value,
            headers=dead_letter_headers(
                record.headers,
                error=error,
                error_type=error_type,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                group_id=self.group_id,
                attempts=attempts,
            ),
        )
        if self.on_dead_letter is not None:
            await self.on_dead_letter(record, error)


def _committable(
    records: Sequence[InboundRecord], finished: set[int]
) -> dict[tuple[str, int], int]:
    """Per partition, the offset after the last record finished with and every one before it."""
    next_offsets: dict[tuple[str, int], int] = {}
    blocked: set[tuple[str, int]] = set()
    for record in records:
        partition = (record.topic, record.partition)
        if partition in blocked:
            continue
        if id(record) in finished:
            next_offsets[partition] = record.offset + 1
        else:
            blocked.add(partition)
    return next_offsets


def _consumed(record: InboundRecord, envelope: Envelope) -> ConsumedEvent:
    return ConsumedEvent(envelope, record.topic, record.partition, record.offset)


def _context(record: InboundRecord, envelope: Envelope, attempts: int) -> dict[str, object]:
    """Log fields that locate an event without its (possibly personal) data."""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "event_id": envelope.id,
        "event_type": envelope.type,
        "attempts": attempts,
    }
