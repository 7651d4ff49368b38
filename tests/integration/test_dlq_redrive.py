"""`credreg dlq list|redrive` over the real broker: a record the consumer dead-lettered is listed,
redriven into its own partition once the cause is fixed, and then processed; never twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from typer.testing import CliRunner, Result

from credreg_cli.main import app
from credreg_shared import testing
from credreg_shared.events.cloudevents import Envelope, to_record
from credreg_shared.events.models import CredentialIssued
from credreg_shared.events.samples import credential_issued, sample_envelope
from credreg_shared.events.topics import dlq_topic
from credreg_shared.messaging.consumer import ConsumerRunner
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.messaging.producer import KafkaPublisher
from credreg_shared.messaging.retry import RetryPolicy
from credreg_shared.messaging.topics_admin import ensure_topics

pytestmark = pytest.mark.integration

PARTITIONS = 3
PATIENCE = 60.0
"""Seconds before a wait is declared stuck; a guard against hangs, not a timing assertion."""


class Handler:
    """Fails every attempt at the events in `broken` (the bug), records every event handled."""

    def __init__(self, broken: set[str]) -> None:
        self.broken = broken
        self.seen: list[str] = []
        self.changed = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        if envelope.id in self.broken:
            raise RuntimeError(f"cannot handle {envelope.id} yet")
        self.seen.append(envelope.id)
        self.changed.set()

    async def wait_until_seen(self, event_id: str, task: asyncio.Task[None]) -> None:
        async def seen() -> None:
            while event_id not in self.seen:
                self.changed.clear()
                await self.changed.wait()

        waiter = asyncio.ensure_future(seen())
        done, _ = await asyncio.wait(
            {task, waiter}, timeout=PATIENCE, return_when="FIRST_COMPLETED"
        )
        if waiter not in done:
            waiter.cancel()
            if task in done:
                task.result()
            raise AssertionError(f"{event_id} not handled within {PATIENCE}s")


@pytest.fixture
async def topic(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> AsyncIterator[str]:
    """A topic and its dead-letter topic, as the services make them; deleted afterwards."""
    name = unique_name("dlq-events")
    await ensure_topics(kafka_bootstrap, {name: PARTITIONS})
    try:
        yield name
    finally:
        await testing.delete_topics(kafka_bootstrap, [name, dlq_topic(name)])


@contextlib.asynccontextmanager
async def consuming(
    bootstrap: str, topic: str, group: str, handler: Handler, publisher: KafkaPublisher
) -> AsyncIterator[asyncio.Task[None]]:
    """The platform's own consumer runner (its dead-lettering included) in the background."""
    registry = HandlerRegistry()
    registry.register(CredentialIssued, handler)
    runner = ConsumerRunner(
        bootstrap_servers=bootstrap,
        group_id=group,
        topics=[topic],
        registry=registry,
        dead_letters=publisher,
        retry=RetryPolicy(max_attempts=2, initial_delay=0.05, max_delay=0.1),
        poll_timeout_ms=200,
    )
    task = asyncio.create_task(runner.run())
    try:
        yield task
    finally:
        runner.stop()
        await asyncio.wait_for(task, timeout=PATIENCE)


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now in `topic`."""
    return await testing.read_records(bootstrap, topic, PARTITIONS)


async def records_in(bootstrap: str, topic: str, count: int) -> None:
    """Wait until `topic` holds `count` records (polled: Kafka has no event for it)."""
    for _ in range(int(PATIENCE / 0.2)):
        if len(await read_topic(bootstrap, topic)) >= count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{topic} did not get {count} record(s) within {PATIENCE}s")


async def credreg(*args: str) -> Result:
    """Run the `credreg` CLI (its own event loop, so in a thread of its own)."""

    def invoke() -> Result:
        # Wide enough that no table cell wraps.
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "400"}, catch_exceptions=False)

    return await asyncio.to_thread(invoke)


async def within(work: Coroutine[Any, Any, Result]) -> Result:
    return await asyncio.wait_for(work, timeout=PATIENCE)


def table_rows(output: str) -> list[list[str]]:
    """The cells of each row of the tables a command printed."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.strip().startswith("│")
    ]


def with_ce_id(records: list[ConsumerRecord[bytes, bytes]], event_id: str) -> list[Any]:
    return [r for r in records if dict(r.headers).get("ce_id") == event_id.encode()]


async def test_a_dead_letter_is_listed_redriven_once_and_then_processed(
    kafka_bootstrap: str, topic: str, unique_name: Callable[[str], str]
) -> None:
    doomed, fine = sample_envelope(credential_issued()), sample_envelope(credential_issued())
    handler = Handler(broken={doomed.id})
    group = unique_name("group")
    bootstrap = ["--bootstrap-servers", kafka_bootstrap]
    async with KafkaPublisher(kafka_bootstrap) as publisher:
        await publisher.publish_many([doomed, fine], topic=topic)
        async with consuming(kafka_bootstrap, topic, group, handler, publisher) as task:
            await handler.wait_until_seen(fine.id, task)
            await records_in(kafka_bootstrap, dlq_topic(topic), 1)
        [original] = with_ce_id(await read_topic(kafka_bootstrap, topic), doomed.id)
        [letter] = await read_topic(kafka_bootstrap, dlq_topic(topic))
        assert dict(letter.headers)["ce_id"] == doomed.id.encode()

        listed = await within(credreg("dlq", "list", "--namespace", topic, *bootstrap))
        assert listed.exit_code == 0, listed.output
        assert [dlq_topic(topic), "1", "1"] in table_rows(listed.output)
        records = await within(credreg("dlq", "list", topic, *bootstrap))
        assert records.exit_code == 0, records.output
        [row] = [r for r in table_rows(records.output) if r[0].isdigit()]
        assert row[:5] == [
            str(letter.partition),
            str(letter.offset),
            original.key.decode(),
            "org.credreg.credential.issued.v1",
            f"{topic}[{original.partition}]@{original.offset}",
        ]
        assert row[5] == group
        assert row[6].startswith("handler_failed.RuntimeError: ")

        dry = await within(credreg("dlq", "redrive", topic, "--dry-run", *bootstrap))
        assert dry.exit_code == 0, dry.output
        assert "would redrive 1 record(s)" in dry.output
        assert len(await read_topic(kafka_bootstrap, topic)) == 2  # nothing sent

        handler.broken.clear()  # the fix is deployed
        redriven = await within(credreg("dlq", "redrive", dlq_topic(topic), *bootstrap))
        assert redriven.exit_code == 0, redriven.output
        assert "redrove 1 record(s)" in redriven.output

        copies = with_ce_id(await read_topic(kafka_bootstrap, topic), doomed.id)
        [copy] = [
            r for r in copies if (r.partition, r.offset) != (original.partition, original.offset)
        ]
        assert copy.partition == original.partition  # back where it was: its key's order holds
        assert (copy.key, copy.value) == (original.key, original.value)
        assert sorted(copy.headers) == sorted(original.headers)  # no dead-letter headers

        async with consuming(kafka_bootstrap, topic, group, handler, publisher) as task:
            await handler.wait_until_seen(doomed.id, task)
        assert handler.seen.count(doomed.id) == 1

    once_more = await within(credreg("dlq", "redrive", topic, *bootstrap))
    assert once_more.exit_code == 0, once_more.output
    assert "redrove 0 record(s)" in once_more.output
    after = await within(credreg("dlq", "list", "--namespace", topic, *bootstrap))
    assert [dlq_topic(topic), "1", "0"] in table_rows(after.output)


async def test_redrive_limit_takes_the_oldest_first_and_leaves_the_rest_waiting(
    kafka_bootstrap: str, topic: str
) -> None:
    dead = [sample_envelope(credential_issued()) for _ in range(3)]
    bootstrap = ["--bootstrap-servers", kafka_bootstrap]
    async with KafkaPublisher(kafka_bootstrap) as publisher:
        # Dead letters without credreg's headers (one key: one partition, in order): the source
        # topic is the dead-letter topic's name without `.dlq`, the partition the key's.
        for envelope in dead:
            record = to_record(envelope)
            await publisher.publish_record(
                dlq_topic(topic), key=b"one-key", value=record.value, headers=record.headers
            )
    first = await within(credreg("dlq", "redrive", topic, "--limit", "2", *bootstrap))
    assert first.exit_code == 0, first.output
    assert "redrove 2 record(s)" in first.output
    redriven = [dict(r.headers)["ce_id"].decode() for r in await read_topic(kafka_bootstrap, topic)]
    assert redriven == [dead[0].id, dead[1].id]
    rest = await within(credreg("dlq", "redrive", topic, *bootstrap))
    assert "redrove 1 record(s)" in rest.output
    records = await read_topic(kafka_bootstrap, topic)
    assert [dict(r.headers)["ce_id"].decode() for r in records] == [e.id for e in dead]
    assert {r.key for r in records} == {b"one-key"}


async def test_a_topic_without_a_dead_letter_topic_is_refused(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    missing = await within(
        credreg("dlq", "redrive", unique_name("absent"), "--bootstrap-servers", kafka_bootstrap)
    )
    assert missing.exit_code == 1
    assert "no topic" in missing.output
