"""What a consumer does with one record: parse, dispatch, retry, dead-letter; no Kafka client.

`RecordProcessor.process` returns once the record is finished with (its handlers returned, it
was skipped, or it is in the dead-letter topic), so the caller may commit past it; it raises
`RetryAbandoned` when asked to stop while waiting to retry (the record is not finished).
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from credreg_shared.events.cloudevents import Envelope, InvalidEvent, from_record
from credreg_shared.events.topics import dlq_topic
from credreg_shared.messaging import metrics
from credreg_shared.messaging.dead_letters import dead_letter_headers
from credreg_shared.messaging.handlers import HandlerRegistry, UnprocessableEvent
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
    ) -> None:
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
        self.stats.count(outcome)
        metrics.CONSUMED_RECORDS.labels(self.group_id, record.topic, outcome.value).inc()
        return outcome

    async def _finish(self, record: InboundRecord) -> Outcome:
        try:
            envelope = from_record(record.key, record.value, record.headers)
        except InvalidEvent as exc:
            await self._dead_letter(
                record, error=str(exc), error_type=f"invalid_event.{exc.reason}", attempts=0
            )
            return Outcome.DEAD_LETTERED
        if not self.registry.handlers_for(envelope.type):
            if self.skip_unhandled_types:
                return Outcome.SKIPPED
            await self._dead_letter(
                record,
                error=f"no handler for {envelope.type} in {self.group_id}",
                error_type="unhandled_type",
                attempts=0,
            )
            return Outcome.DEAD_LETTERED
        return await self._handle_with_retries(record, envelope)

    async def _handle_with_retries(self, record: InboundRecord, envelope: Envelope) -> Outcome:
        attempts = 0
        while True:
            attempts += 1
            started = time.perf_counter()
            try:
                for handler in self.registry.handlers_for(envelope.type):
                    await handler(envelope)
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
