"""The consumer runner over the real broker: handling, dead letters, retries, stop and restart."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from credreg_shared.events.cloudevents import Envelope, to_record
from credreg_shared.events.models import CredentialIssued, CredentialRevoked
from credreg_shared.events.samples import credential_issued, sample_envelope
from credreg_shared.events.topics import dlq_topic
from credreg_shared.messaging import dead_letters as dl
from credreg_shared.messaging.consumer import ConsumerRunner
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.messaging.producer import KafkaPublisher
from credreg_shared.messaging.retry import RetryPolicy
from credreg_shared.messaging.topics_admin import ensure_topics
from credreg_shared.testing import eventually, read_records

pytestmark = pytest.mark.integration

QUICK_RETRY = RetryPolicy(max_attempts=4, initial_delay=0.05, max_delay=0.2)
PARTITIONS = 3
PATIENCE = 60.0
"""Seconds before a wait is declared stuck; a guard against hangs, not a timing assertion."""


@pytest.fixture
async def topic(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> AsyncIterator[str]:
    """A 3-partition topic and its dead-letter topic, made by ensure_topics; deleted afterwards."""
    name = unique_name("events")
    created = await ensure_topics(kafka_bootstrap, {name: PARTITIONS})
    assert created == sorted([name, dlq_topic(name)])
    try:
        yield name
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        with contextlib.suppress(Exception):
            await admin.delete_topics([name, dlq_topic(name)])
        await admin.close()


@pytest.fixture
async def publisher(kafka_bootstrap: str) -> AsyncIterator[KafkaPublisher]:
    async with KafkaPublisher(kafka_bootstrap) as started:
        yield started


@dataclass
class Collector:
    """A handler that records every event it handles and lets a test wait for a count."""

    fail_first: Counter[str] = field(default_factory=Counter)
    seen: list[str] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, envelope: Envelope) -> None:
        self.attempts[envelope.id] += 1
        if self.attempts[envelope.id] <= self.fail_first[envelope.id]:
            raise RuntimeError(f"transient failure {self.attempts[envelope.id]}")
        async with self.changed:
            self.seen.append(envelope.id)
            self.changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.seen) >= count)


def runner_for(
    bootstrap: str,
    topic: str,
    group: str,
    registry: HandlerRegistry,
    dead_letters: KafkaPublisher,
    **options: Any,
) -> ConsumerRunner:
    return ConsumerRunner(
        bootstrap_servers=bootstrap,
        group_id=group,
        topics=[topic],
        registry=registry,
        dead_letters=dead_letters,
        retry=options.pop("retry", QUICK_RETRY),
        poll_timeout_ms=200,
        **options,
    )


def handling(collector: Collector) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(CredentialIssued, collector)
    return registry


async def until(task: asyncio.Task[None], waited: Coroutine[Any, Any, None]) -> None:
    """Await `waited`, failing at once if the runner `task` ends (or crashes) first."""
    waiter = asyncio.ensure_future(waited)
    done, _ = await asyncio.wait({task, waiter}, timeout=PATIENCE, return_when="FIRST_COMPLETED")
    if waiter not in done:
        waiter.cancel()
        if task in done:
            task.result()
            raise AssertionError("the runner stopped before the awaited condition held")
        raise AssertionError(f"condition not reached within {PATIENCE}s")
    waiter.result()


@contextlib.asynccontextmanager
async def running(runner: ConsumerRunner) -> AsyncIterator[asyncio.Task[None]]:
    """Run `runner` in the background; stop it and await its clean exit afterwards."""
    task = asyncio.create_task(runner.run())
    try:
        yield task
    finally:
        runner.stop()
        await asyncio.wait_for(task, timeout=PATIENCE)


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record currently in `topic` (a topic of the fixture, or its dead-letter topic)."""
    return await read_records(bootstrap, topic, PARTITIONS)


async def committed_equals_end(bootstrap: str, topic: str, group: str) -> bool:
    """Whether `group` committed every partition of `topic` up to its end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(partitions)
        committed = {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()
    return all((committed[tp] or 0) == end for tp, end in ends.items())


async def finish_after_restart(
    runner: ConsumerRunner,
    collector: "Collector | BatchCollector",
    first_seen: list[str],
    every_id: set[str],
    bootstrap: str,
    topic: str,
) -> None:
    """Run `runner` (the group restarted) until the rest is handled: once each, none lost."""
    async with running(runner) as task:
        await until(task, collector.wait_for(len(every_id) - len(first_seen)))
    assert not set(first_seen) & set(collector.seen), "a committed event was redelivered"
    assert set(first_seen) | set(collector.seen) == every_id, "an event was lost"
    assert await committed_equals_end(bootstrap, topic, runner.group_id)


async def test_published_events_are_handled_then_committed(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    collector = Collector()
    group = unique_name("group")
    envelopes = [sample_envelope() for _ in range(30)]
    revoked = CredentialRevoked(
        credential_id=envelopes[0].subject,
        issuer_id="did:web:x",
        holder_id="did:key:y",
        reason="error",
    )
    await publisher.publish_many([*envelopes, sample_envelope(revoked)], topic=topic)

    runner = runner_for(kafka_bootstrap, topic, group, handling(collector), publisher)
    async with running(runner) as task:
        await until(task, collector.wait_for(len(envelopes)))

    assert sorted(collector.seen) == sorted(e.id for e in envelopes)
    assert runner.stats.skipped == 1, "the revocation has no handler here and is skipped"
    assert runner.stats.dead_lettered == 0
    assert await committed_equals_end(kafka_bootstrap, topic, group)


async def test_malformed_record_is_dead_lettered_and_the_next_good_one_still_processed(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    collector = Collector()
    data = credential_issued()
    before, after = sample_envelope(data), sample_envelope(data)
    good = to_record(before)
    poison_value = b'{"credential_id": "no other fields"}'
    # Same key, so the poison record sits between the good ones in one partition.
    await publisher.publish(before, topic=topic)
    await publisher.publish_record(topic, key=good.key, value=poison_value, headers=good.headers)
    await publisher.publish(after, topic=topic)

    runner = runner_for(
        kafka_bootstrap, topic, unique_name("group"), handling(collector), publisher
    )
    async with running(runner) as task:
        await until(task, collector.wait_for(2))

    assert collector.seen == [before.id, after.id]
    [letter] = await read_topic(kafka_bootstrap, dlq_topic(topic))
    headers = dict(letter.headers)
    assert (letter.key, letter.value) == (good.key, poison_value)
    assert headers["ce_id"] == before.id.encode(), "original headers are kept"
    assert headers[dl.ERROR_TYPE_HEADER] == b"invalid_event.invalid_data"
    assert b"issuer_id" in headers[dl.ERROR_HEADER]
    assert headers[dl.SOURCE_TOPIC_HEADER] == topic.encode()
    source = [r for r in await read_topic(kafka_bootstrap, topic) if r.value == poison_value]
    assert headers[dl.SOURCE_PARTITION_HEADER] == str(source[0].partition).encode()
    assert headers[dl.SOURCE_OFFSET_HEADER] == str(source[0].offset).encode()


async def test_transient_handler_failure_is_retried_and_the_event_not_lost(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    flaky, steady = sample_envelope(), sample_envelope()
    collector = Collector(fail_first=Counter({flaky.id: QUICK_RETRY.max_attempts - 1}))
    await publisher.publish_many([flaky, steady], topic=topic)

    runner = runner_for(
        kafka_bootstrap, topic, unique_name("group"), handling(collector), publisher
    )
    async with running(runner) as task:
        await until(task, collector.wait_for(2))

    assert sorted(collector.seen) == sorted([flaky.id, steady.id])
    assert collector.attempts[flaky.id] == QUICK_RETRY.max_attempts
    assert runner.stats.failed_attempts == QUICK_RETRY.max_attempts - 1
    assert await read_topic(kafka_bootstrap, dlq_topic(topic)) == []


async def test_handler_failing_every_attempt_is_dead_lettered_and_the_partition_moves_on(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    data = credential_issued()
    doomed, later = sample_envelope(data), sample_envelope(data)
    collector = Collector(fail_first=Counter({doomed.id: 1000}))
    await publisher.publish_many([doomed, later], topic=topic)

    runner = runner_for(
        kafka_bootstrap, topic, unique_name("group"), handling(collector), publisher
    )
    async with running(runner) as task:
        await until(task, collector.wait_for(1))

    assert collector.seen == [later.id]
    [letter] = await read_topic(kafka_bootstrap, dlq_topic(topic))
    headers = dict(letter.headers)
    assert headers["ce_id"] == doomed.id.encode()
    assert headers[dl.ERROR_TYPE_HEADER] == b"handler_failed.RuntimeError"
    assert headers[dl.ATTEMPTS_HEADER] == str(QUICK_RETRY.max_attempts).encode()


async def test_gathered_offsets_are_committed_once_the_consumer_is_idle(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    collector = Collector()
    group = unique_name("group")
    envelopes = [sample_envelope() for _ in range(20)]
    await publisher.publish_many(envelopes, topic=topic)
    # An interval far longer than the test: only the idle commit can make the offsets land.
    runner = runner_for(
        kafka_bootstrap, topic, group, handling(collector), publisher, commit_interval=600
    )
    async with running(runner) as task:
        await until(task, collector.wait_for(len(envelopes)))

        async def committed() -> bool | None:
            return True if await committed_equals_end(kafka_bootstrap, topic, group) else None

        assert await eventually(committed, "the offsets committed while the runner idles")
        assert not task.done()


@pytest.mark.parametrize("commit_interval", [0.0, 600.0], ids=["each-batch", "gathered"])
async def test_stop_and_restart_redelivers_nothing_committed_and_loses_nothing(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
    commit_interval: float,
) -> None:
    group = unique_name("group")
    first_batch = [sample_envelope() for _ in range(40)]
    await publisher.publish_many(first_batch, topic=topic)

    first = Collector()
    first_runner = runner_for(
        kafka_bootstrap,
        topic,
        group,
        handling(first),
        publisher,
        max_records=5,
        commit_interval=commit_interval,
    )
    async with running(first_runner) as task:
        await until(task, first.wait_for(12))
    # Stopped mid-topic: the in-flight batches were finished and committed, the rest was not read.

    later_batch = [sample_envelope() for _ in range(10)]
    await publisher.publish_many(later_batch, topic=topic)
    second = Collector()
    every_id = {e.id for e in first_batch + later_batch}
    second_runner = runner_for(kafka_bootstrap, topic, group, handling(second), publisher)
    await finish_after_restart(second_runner, second, first.seen, every_id, kafka_bootstrap, topic)

    assert len(first.seen) == len(set(first.seen)), "no duplicate within the first run"
    assert len(second.seen) == len(set(second.seen))


async def test_event_waiting_for_a_retry_at_stop_is_redelivered_after_restart(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    group = unique_name("group")
    stuck = sample_envelope()
    collector = Collector(fail_first=Counter({stuck.id: 1}))
    await publisher.publish(stuck, topic=topic)
    hour_long_backoff = RetryPolicy(initial_delay=3600, max_delay=3600)

    first = runner_for(
        kafka_bootstrap, topic, group, handling(collector), publisher, retry=hour_long_backoff
    )
    async with running(first) as task:
        await until(task, _wait_for_attempt(collector, stuck.id))
    # Leaving the block stopped the runner during the backoff: the event must not be committed.
    assert collector.seen == []

    second = runner_for(kafka_bootstrap, topic, group, handling(collector), publisher)
    async with running(second) as task:
        await until(task, collector.wait_for(1))
    assert collector.seen == [stuck.id]
    assert collector.attempts[stuck.id] == 2
    assert await read_topic(kafka_bootstrap, dlq_topic(topic)) == []


async def _wait_for_attempt(collector: Collector, event_id: str) -> None:
    """Wait until the handler has failed once for `event_id` (it then waits to retry)."""
    while collector.attempts[event_id] == 0:  # noqa: ASYNC110 - the handler has no event to set
        await asyncio.sleep(0.05)


async def test_ensure_topics_is_idempotent(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    first, second = unique_name("a"), unique_name("b")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        created = await ensure_topics(kafka_bootstrap, {first: 2})
        again = await ensure_topics(kafka_bootstrap, {first: 2, second: 1}, with_dlq=False)
        once_more = await ensure_topics(kafka_bootstrap, {first: 2, second: 1}, with_dlq=False)
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics([first, dlq_topic(first), second])
        await admin.close()

    assert created == sorted([first, dlq_topic(first)])
    assert again == [second]
    assert once_more == []
    assert described[first] == 2
    assert described[dlq_topic(first)] == 2
    assert described[second] == 1


async def test_two_runners_of_one_group_share_the_work_without_loss(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    group = unique_name("group")
    envelopes = [sample_envelope() for _ in range(60)]
    shared = Collector()
    one = runner_for(kafka_bootstrap, topic, group, handling(shared), publisher, max_records=5)
    two = runner_for(kafka_bootstrap, topic, group, handling(shared), publisher, max_records=5)
    async with running(one) as first_task, running(two) as second_task:
        await publisher.publish_many(envelopes, topic=topic)
        await until(first_task, until(second_task, shared.wait_for(len(envelopes))))

    assert set(shared.seen) == {e.id for e in envelopes}
    assert await committed_equals_end(kafka_bootstrap, topic, group)


@dataclass
class BatchCollector:
    """A batch handler that records each batch; `gate` (when given) holds the first call."""

    gate: asyncio.Event | None = None
    held: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the first call is being held at the gate."""
    batches: list[list[str]] = field(default_factory=list)
    running: int = 0
    overlapped: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, events: Any) -> None:
        self.running += 1
        self.overlapped |= self.running > 1
        try:
            if self.gate is not None and not self.batches:
                self.batches.append([])  # the first call, held until the test opens the gate
                self.held.set()
                await self.gate.wait()
                self.batches[0] = [event.envelope.id for event in events]
            else:
                self.batches.append([event.envelope.id for event in events])
        finally:
            self.running -= 1
        async with self.changed:
            self.changed.notify_all()

    @property
    def seen(self) -> list[str]:
        return [event_id for batch in self.batches for event_id in batch]

    async def wait_for(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(set(self.seen)) >= count)


def batch_handling(collector: BatchCollector) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register_batch([CredentialIssued], collector)
    return registry


async def test_the_next_batch_is_parsed_while_a_batch_handler_applies_one_at_a_time(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    """A poison record of a later batch is dead-lettered while the first batch is still held."""
    gate = asyncio.Event()
    collector = BatchCollector(gate=gate)
    data = credential_issued()  # one key: one partition, in order
    envelopes = [sample_envelope(data) for _ in range(12)]
    good = to_record(envelopes[0])
    await publisher.publish_many(envelopes[:6], topic=topic)
    await publisher.publish_record(topic, key=good.key, value=b"{}", headers=good.headers)
    await publisher.publish_many(envelopes[6:], topic=topic)

    runner = runner_for(
        kafka_bootstrap, topic, unique_name("group"), batch_handling(collector), publisher,
        max_records=4,
    )  # fmt: skip
    async with running(runner) as task:
        await until(task, collector.held.wait())

        async def poison_dead_lettered() -> bool:
            return runner.stats.dead_lettered == 1

        await until(task, eventually(poison_dead_lettered, "the later batch's poison record"))
        assert collector.batches == [[]], "the first batch is still being applied"
        gate.set()
        await until(task, collector.wait_for(len(envelopes)))

    assert collector.seen == [e.id for e in envelopes], "applied once each, in order"
    assert not collector.overlapped, "one batch applied at a time"
    assert [len(batch) for batch in collector.batches][0] == 4
    assert await committed_equals_end(kafka_bootstrap, topic, runner.group_id)


async def test_caught_up_means_every_batch_was_applied(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    gate = asyncio.Event()
    collector = BatchCollector(gate=gate)
    envelopes = [sample_envelope() for _ in range(20)]
    await publisher.publish_many(envelopes, topic=topic)

    # One batch can hold them all: then the batch held is the last one, fetched to the end.
    runner = runner_for(
        kafka_bootstrap, topic, unique_name("group"), batch_handling(collector), publisher,
        max_records=50,
    )  # fmt: skip
    async with running(runner) as task:
        await until(task, collector.held.wait())
        await asyncio.sleep(1.0)  # time for a few empty polls, which set caught_up when idle
        assert not runner.caught_up.is_set(), "caught up while a batch was still being applied"
        gate.set()
        await until(task, runner.caught_up.wait())
        assert set(collector.seen) == {e.id for e in envelopes}


async def test_a_stop_while_the_next_batch_waits_loses_nothing(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    """Stopped with one batch being applied and the next one parsed: the restart applies it."""
    group = unique_name("group")
    gate = asyncio.Event()
    first = BatchCollector(gate=gate)
    envelopes = [sample_envelope(credential_issued()) for _ in range(10)]
    await publisher.publish_many(envelopes, topic=topic)

    runner = runner_for(
        kafka_bootstrap, topic, group, batch_handling(first), publisher, max_records=3
    )
    task = asyncio.create_task(runner.run())
    await until(task, runner.assigned.wait())

    await until(task, first.held.wait())
    runner.stop()
    gate.set()
    await asyncio.wait_for(task, timeout=PATIENCE)

    second = BatchCollector()
    assert len(first.seen) == 3, "the batch in flight finished; the parsed one was not applied"
    restarted = runner_for(
        kafka_bootstrap, topic, group, batch_handling(second), publisher, max_records=3
    )
    await finish_after_restart(
        restarted, second, first.seen, {e.id for e in envelopes}, kafka_bootstrap, topic
    )


async def test_two_batch_runners_of_one_group_share_the_work_without_loss(
    kafka_bootstrap: str,
    topic: str,
    publisher: KafkaPublisher,
    unique_name: Callable[[str], str],
) -> None:
    """A rebalance while batches are parsed ahead: every event applied, every offset committed."""
    group = unique_name("group")
    envelopes = [sample_envelope() for _ in range(300)]
    shared = BatchCollector()
    one = runner_for(
        kafka_bootstrap, topic, group, batch_handling(shared), publisher, max_records=5
    )
    two = runner_for(
        kafka_bootstrap, topic, group, batch_handling(shared), publisher, max_records=5
    )
    async with running(one) as first_task:
        await publisher.publish_many(envelopes[:150], topic=topic)
        await until(first_task, shared.wait_for(20))
        async with running(two) as second_task:
            await publisher.publish_many(envelopes[150:], topic=topic)
            await until(first_task, until(second_task, shared.wait_for(len(envelopes))))

    assert set(shared.seen) == {e.id for e in envelopes}
    assert await committed_equals_end(kafka_bootstrap, topic, group)
