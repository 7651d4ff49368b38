"""RecordProcessor and the runner's batch logic, with an in-memory dead-letter publisher."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition

from credreg_shared.events.cloudevents import Envelope, to_record
from credreg_shared.events.models import CredentialIssued, CredentialRevoked, EventData
from credreg_shared.events.samples import every_event_kind, sample_envelope
from credreg_shared.events.topics import CREDENTIALS_TOPIC, dlq_topic
from credreg_shared.messaging import dead_letters as dl
from credreg_shared.messaging.consumer import ConsumerRunner
from credreg_shared.messaging.fakes import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent, HandlerRegistry, UnprocessableEvent
from credreg_shared.messaging.processing import Outcome, RecordProcessor, RetryAbandoned
from credreg_shared.messaging.retry import RetryPolicy

NO_WAIT = RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0)
GROUP = "test-group"


@dataclass(frozen=True)
class FakeRecord:
    """A consumed record as aiokafka would hand it over."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str = CREDENTIALS_TOPIC
    partition: int = 0
    offset: int = 0


def consumed(envelope: Envelope, *, partition: int = 0, offset: int = 0) -> FakeRecord:
    record = to_record(envelope)
    return FakeRecord(record.key, record.value, record.headers, partition=partition, offset=offset)


@dataclass
class Recorder:
    """A handler that remembers what it saw and fails its first `failures` calls."""

    failures: int = 0
    error: Exception = field(default_factory=lambda: RuntimeError("database said no"))
    seen: list[Envelope] = field(default_factory=list)
    calls: int = 0

    async def __call__(self, envelope: Envelope) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.seen.append(envelope)


def processor(
    registry: HandlerRegistry,
    dlq: InMemoryPublisher,
    *,
    retry: RetryPolicy = NO_WAIT,
    skip_unhandled_types: bool = True,
    stopping: asyncio.Event | None = None,
) -> RecordProcessor:
    return RecordProcessor(
        group_id=GROUP,
        registry=registry,
        dead_letters=dlq,
        retry=retry,
        skip_unhandled_types=skip_unhandled_types,
        stopping=stopping,
    )


def registry_with(event: type[EventData], *handlers: Recorder) -> HandlerRegistry:
    registry = HandlerRegistry()
    for handler in handlers:
        registry.register(event, handler)
    return registry


def headers_of(headers: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    return dict(headers)


async def test_registered_event_reaches_every_handler_in_order() -> None:
    first, second = Recorder(), Recorder()
    dlq = InMemoryPublisher()
    envelope = sample_envelope()

    outcome = await processor(registry_with(CredentialIssued, first, second), dlq).process(
        consumed(envelope)
    )

    assert outcome is Outcome.PROCESSED
    assert first.seen == second.seen == [envelope]
    assert dlq.records == []


async def test_valid_event_of_an_unhandled_type_is_skipped() -> None:
    handler = Recorder()
    dlq = InMemoryPublisher()
    revoked = next(d for d in every_event_kind() if isinstance(d, CredentialRevoked))
    work = processor(registry_with(CredentialIssued, handler), dlq)

    outcome = await work.process(consumed(sample_envelope(revoked)))

    assert outcome is Outcome.SKIPPED
    assert handler.calls == 0
    assert dlq.records == []
    assert work.stats.skipped == 1


def renamed(record: FakeRecord, event_type: str) -> FakeRecord:
    """The record with its `ce_type` header replaced."""
    headers = [(n, event_type.encode() if n == "ce_type" else v) for n, v in record.headers]
    return FakeRecord(record.key, record.value, headers)


async def test_a_record_of_an_unhandled_known_type_is_skipped_without_being_parsed() -> None:
    revoked = next(d for d in every_event_kind() if isinstance(d, CredentialRevoked))
    good = consumed(sample_envelope(revoked))
    broken = FakeRecord(good.key, b"{not json", good.headers)
    for skipping, expected in ((True, Outcome.SKIPPED), (False, Outcome.DEAD_LETTERED)):
        dlq = InMemoryPublisher()
        work = processor(
            registry_with(CredentialIssued, Recorder()), dlq, skip_unhandled_types=skipping
        )

        outcome = await work.process(broken)

        # Skipping: its own consumers dead-letter it; wanting every type: this one does.
        assert outcome is expected, skipping
        assert len(dlq.records) == (0 if skipping else 1)


async def test_a_record_naming_an_unknown_type_is_still_dead_lettered_when_skipping() -> None:
    dlq = InMemoryPublisher()
    unknown = renamed(consumed(sample_envelope()), "org.credreg.credential.unheard-of.v1")
    work = processor(registry_with(CredentialIssued, Recorder()), dlq)

    outcome = await work.process(unknown)

    assert outcome is Outcome.DEAD_LETTERED
    [letter] = dlq.records
    assert headers_of(letter.headers)[dl.ERROR_TYPE_HEADER] == b"invalid_event.unknown_type"


async def test_unhandled_type_is_dead_lettered_when_the_service_wants_every_type() -> None:
    dlq = InMemoryPublisher()
    revoked = next(d for d in every_event_kind() if isinstance(d, CredentialRevoked))
    work = processor(registry_with(CredentialIssued), dlq, skip_unhandled_types=False)

    outcome = await work.process(consumed(sample_envelope(revoked)))

    assert outcome is Outcome.DEAD_LETTERED
    [letter] = dlq.on(dlq_topic(CREDENTIALS_TOPIC))
    assert headers_of(letter.headers)[dl.ERROR_TYPE_HEADER] == b"unhandled_type"


async def test_unparseable_record_goes_to_the_dlq_with_error_headers_and_original_bytes() -> None:
    handler = Recorder()
    dlq = InMemoryPublisher()
    good = to_record(sample_envelope())
    bad = FakeRecord(good.key, b"{not json", good.headers, partition=2, offset=41)

    outcome = await processor(registry_with(CredentialIssued, handler), dlq).process(bad)

    assert outcome is Outcome.DEAD_LETTERED
    assert handler.calls == 0
    [letter] = dlq.records
    assert letter.topic == "credreg.credentials.dlq"
    assert (letter.key, letter.value) == (bad.key, bad.value)
    assert letter.headers[: len(good.headers)] == tuple(good.headers), "original headers first"
    headers = headers_of(letter.headers)
    assert headers[dl.ERROR_TYPE_HEADER] == b"invalid_event.invalid_data"
    assert headers[dl.ERROR_HEADER].startswith(b"invalid_data: ")
    assert headers[dl.SOURCE_TOPIC_HEADER] == CREDENTIALS_TOPIC.encode()
    assert headers[dl.SOURCE_PARTITION_HEADER] == b"2"
    assert headers[dl.SOURCE_OFFSET_HEADER] == b"41"
    assert headers[dl.CONSUMER_GROUP_HEADER] == GROUP.encode()
    assert headers[dl.ATTEMPTS_HEADER] == b"0"


async def test_the_dead_letter_hook_hears_of_each_record_after_its_dead_letter() -> None:
    dlq = InMemoryPublisher()
    heard: list[tuple[bytes | None, str, int]] = []

    async def hook(record: Any, error: str) -> None:
        heard.append((record.key, error, len(dlq.records)))

    bad = FakeRecord(b"request-1", b"{not json", [], partition=0, offset=3)
    good = consumed(sample_envelope())
    handler = Recorder()
    processing = RecordProcessor(
        group_id=GROUP,
        registry=registry_with(CredentialIssued, handler),
        dead_letters=dlq,
        retry=NO_WAIT,
        on_dead_letter=hook,
    )

    assert await processing.process(bad) is Outcome.DEAD_LETTERED
    assert await processing.process(good) is Outcome.PROCESSED
    # Told once, for the dead letter only, after it was published (acknowledged).
    assert heard == [(b"request-1", "missing_attribute: header ce_specversion missing", 1)]


async def test_record_without_headers_or_value_is_dead_lettered() -> None:
    dlq = InMemoryPublisher()
    outcome = await processor(HandlerRegistry(), dlq).process(FakeRecord(None, None, []))
    assert outcome is Outcome.DEAD_LETTERED
    [letter] = dlq.records
    assert headers_of(letter.headers)[dl.ERROR_TYPE_HEADER] == b"invalid_event.missing_attribute"


async def test_transient_failure_is_retried_until_it_succeeds() -> None:
    handler = Recorder(failures=2)
    dlq = InMemoryPublisher()
    work = processor(registry_with(CredentialIssued, handler), dlq)

    outcome = await work.process(consumed(sample_envelope()))

    assert outcome is Outcome.PROCESSED
    assert handler.calls == 3
    assert len(handler.seen) == 1
    assert work.stats.failed_attempts == 2
    assert dlq.records == []


async def test_handler_that_keeps_failing_is_dead_lettered_after_max_attempts() -> None:
    handler = Recorder(failures=100)
    dlq = InMemoryPublisher()
    work = processor(registry_with(CredentialIssued, handler), dlq)

    outcome = await work.process(consumed(sample_envelope()))

    assert outcome is Outcome.DEAD_LETTERED
    assert handler.calls == NO_WAIT.max_attempts
    headers = headers_of(dlq.records[0].headers)
    assert headers[dl.ERROR_TYPE_HEADER] == b"handler_failed.RuntimeError"
    assert headers[dl.ERROR_HEADER] == b"RuntimeError: database said no"
    assert headers[dl.ATTEMPTS_HEADER] == b"3"
    assert work.stats.dead_lettered == 1


async def test_unprocessable_event_is_dead_lettered_without_retry() -> None:
    handler = Recorder(failures=1, error=UnprocessableEvent("holder unknown"))
    dlq = InMemoryPublisher()

    outcome = await processor(registry_with(CredentialIssued, handler), dlq).process(
        consumed(sample_envelope())
    )

    assert outcome is Outcome.DEAD_LETTERED
    assert handler.calls == 1
    assert headers_of(dlq.records[0].headers)[dl.ERROR_TYPE_HEADER] == b"unprocessable"


async def test_infrastructure_errors_are_retried_beyond_max_attempts() -> None:
    handler = Recorder(failures=10, error=ConnectionError("mongo down"))
    dlq = InMemoryPublisher()
    retry = RetryPolicy(max_attempts=2, initial_delay=0, retry_forever_on=(ConnectionError,))

    outcome = await processor(registry_with(CredentialIssued, handler), dlq, retry=retry).process(
        consumed(sample_envelope())
    )

    assert outcome is Outcome.PROCESSED
    assert handler.calls == 11
    assert dlq.records == []


async def test_stop_during_backoff_abandons_the_record_without_dead_lettering() -> None:
    stopping = asyncio.Event()

    async def fails_then_stop_is_requested(envelope: Envelope) -> None:
        stopping.set()
        raise RuntimeError("transient")

    registry = HandlerRegistry()
    registry.register(CredentialIssued, fails_then_stop_is_requested)
    dlq = InMemoryPublisher()
    slow_retry = RetryPolicy(initial_delay=3600, max_delay=3600)
    work = processor(registry, dlq, retry=slow_retry, stopping=stopping)

    with pytest.raises(RetryAbandoned):
        # The hour-long backoff must be cut short by the stop; the timeout only guards the suite.
        await asyncio.wait_for(work.process(consumed(sample_envelope())), timeout=30)
    assert dlq.records == []


async def test_failing_dead_letter_publish_is_raised_not_swallowed() -> None:
    dlq = InMemoryPublisher(fail_with=ConnectionError("broker down"))
    with pytest.raises(ConnectionError):
        await processor(HandlerRegistry(), dlq).process(FakeRecord(b"k", b"{}", []))


async def test_dead_lettering_a_dead_letter_replaces_the_old_error_headers() -> None:
    good = to_record(sample_envelope())
    old = dl.dead_letter_headers(
        good.headers, error="old", error_type="x", topic="t", partition=0, offset=0,
        group_id="g", attempts=1,
    )  # fmt: skip
    dlq = InMemoryPublisher()
    registry = registry_with(CredentialIssued, Recorder())
    await processor(registry, dlq).process(FakeRecord(good.key, b"[]", old))

    names = [name for name, _ in dlq.records[0].headers]
    assert names.count(dl.ERROR_HEADER) == 1
    assert headers_of(dlq.records[0].headers)[dl.ERROR_HEADER] != b"old"


async def test_runner_commits_each_partition_up_to_the_last_finished_record() -> None:
    """Partition 1 stops at a record abandoned by stop(); partition 0 finishes its three."""
    registry = HandlerRegistry()
    dlq = InMemoryPublisher()
    runner = ConsumerRunner(
        bootstrap_servers="unused:9092",
        group_id=GROUP,
        topics=[CREDENTIALS_TOPIC],
        registry=registry,
        dead_letters=dlq,
        retry=RetryPolicy(initial_delay=3600, max_delay=3600),
    )
    poison = sample_envelope()

    async def handle(envelope: Envelope) -> None:
        if envelope.id == poison.id:
            runner.stop()
            raise RuntimeError("transient")

    registry.register(CredentialIssued, handle)
    p0, p1 = TopicPartition(CREDENTIALS_TOPIC, 0), TopicPartition(CREDENTIALS_TOPIC, 1)
    batch = {
        p0: [consumed(sample_envelope(), partition=0, offset=n) for n in range(10, 13)],
        p1: [
            consumed(sample_envelope(), partition=1, offset=5),
            consumed(poison, partition=1, offset=6),
            consumed(sample_envelope(), partition=1, offset=7),
        ],
    }

    offsets = await asyncio.wait_for(runner._process_batch(batch), timeout=30)

    assert {tp: o.offset for tp, o in offsets.items()} == {p0: 13, p1: 6}
    assert runner.stats.processed == 4


async def test_runner_counts_the_dead_letter_as_finished_and_commits_past_it() -> None:
    dlq = InMemoryPublisher()
    runner = ConsumerRunner(
        bootstrap_servers="unused:9092",
        group_id=GROUP,
        topics=[CREDENTIALS_TOPIC],
        registry=registry_with(CredentialIssued, Recorder()),
        dead_letters=dlq,
    )
    good = to_record(sample_envelope())
    p0 = TopicPartition(CREDENTIALS_TOPIC, 0)
    batch = {
        p0: [
            FakeRecord(good.key, b"garbage", good.headers, offset=0),
            consumed(sample_envelope(), offset=1),
        ]
    }

    offsets = await runner._process_batch(batch)

    assert offsets[p0].offset == 2
    assert (runner.stats.dead_lettered, runner.stats.processed) == (1, 1)
    assert headers_of(dlq.records[0].headers)[dl.SOURCE_OFFSET_HEADER] == b"0"


@dataclass
class BatchRecorder:
    """A batch handler that remembers each call and fails on any batch holding a poison id."""

    poison: set[str] = field(default_factory=set)
    calls: list[list[str]] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)

    async def __call__(self, events: Sequence[ConsumedEvent]) -> None:
        ids = [e.envelope.id for e in events]
        self.calls.append(ids)
        if self.poison & set(ids):
            raise UnprocessableEvent("poison in the batch")
        self.applied += ids


def batch_registry(handler: BatchRecorder) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register_batch([CredentialIssued, CredentialRevoked], handler)
    return registry


async def test_a_batch_handler_gets_the_whole_batch_in_one_call_with_positions() -> None:
    dlq, handler = InMemoryPublisher(), BatchRecorder()
    envelopes = [sample_envelope() for _ in range(4)]
    records = [consumed(e, partition=n % 2, offset=10 + n) for n, e in enumerate(envelopes)]
    seen: list[ConsumedEvent] = []

    async def keep(events: Sequence[ConsumedEvent]) -> None:
        seen.extend(events)
        await handler(events)

    registry = HandlerRegistry()
    registry.register_batch([CredentialIssued], keep)
    offsets = await processor(registry, dlq).process_batch(records, keep)
    assert handler.calls == [[e.id for e in envelopes]]
    assert [(e.partition, e.offset) for e in seen] == [(0, 10), (1, 11), (0, 12), (1, 13)]
    assert offsets == {(CREDENTIALS_TOPIC, 0): 13, (CREDENTIALS_TOPIC, 1): 14}
    assert dlq.records == []


async def test_a_poison_event_fails_its_batch_and_only_itself_is_dead_lettered() -> None:
    dlq = InMemoryPublisher()
    envelopes = [sample_envelope() for _ in range(3)]
    handler = BatchRecorder(poison={envelopes[1].id})
    records = [consumed(e, offset=n) for n, e in enumerate(envelopes)]
    worker = processor(batch_registry(handler), dlq)
    offsets = await worker.process_batch(records, handler)
    assert handler.calls[0] == [e.id for e in envelopes]
    assert handler.applied == [envelopes[0].id, envelopes[2].id]
    assert [r.topic for r in dlq.records] == [dlq_topic(CREDENTIALS_TOPIC)]
    assert offsets == {(CREDENTIALS_TOPIC, 0): 3}
    assert (worker.stats.processed, worker.stats.dead_lettered) == (2, 1)


async def test_malformed_and_foreign_records_never_reach_the_batch_handler() -> None:
    dlq, handler = InMemoryPublisher(), BatchRecorder()
    good = sample_envelope()
    records = [FakeRecord(b"k", b"not json", [], offset=0), consumed(good, offset=1)]
    offsets = await processor(batch_registry(handler), dlq).process_batch(records, handler)
    assert handler.calls == [[good.id]]
    assert len(dlq.records) == 1
    assert offsets == {(CREDENTIALS_TOPIC, 0): 2}


async def test_a_stop_while_retrying_commits_only_the_events_before_it() -> None:
    """Stop requested during the one-at-a-time path: nothing at or after the stuck event."""
    dlq, stopping = InMemoryPublisher(), asyncio.Event()
    envelopes = [sample_envelope() for _ in range(3)]
    stuck = envelopes[1].id

    async def flaky(events: Sequence[ConsumedEvent]) -> None:
        if any(e.envelope.id == stuck for e in events):
            stopping.set()
            raise RuntimeError("database said no")

    registry = HandlerRegistry()
    registry.register_batch([CredentialIssued], flaky)
    records = [consumed(e, offset=n) for n, e in enumerate(envelopes)]
    retry = RetryPolicy(max_attempts=5, initial_delay=0, max_delay=0)
    worker = processor(registry, dlq, retry=retry, stopping=stopping)
    offsets = await asyncio.wait_for(worker.process_batch(records, flaky), timeout=10)
    assert offsets == {(CREDENTIALS_TOPIC, 0): 1}
    assert dlq.records == []


def test_a_registry_takes_per_event_handlers_or_one_batch_handler() -> None:
    registry = HandlerRegistry()
    registry.register_batch([CredentialIssued], BatchRecorder())
    assert registry.handles(CredentialIssued.event_type)
    assert not registry.handles(CredentialRevoked.event_type)
    with pytest.raises(ValueError, match="not both"):
        registry.register(CredentialRevoked, Recorder())
    with pytest.raises(ValueError, match="not both"):
        registry_with(CredentialIssued, Recorder()).register_batch(
            [CredentialIssued], BatchRecorder()
        )
