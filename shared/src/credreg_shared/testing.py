"""Test helpers for code that runs over real Kafka: wait for a condition, read a topic, clean up.

Shared by every service's integration tests and the end-to-end tests, so each waits and reads
the log the same way. Nothing in the services imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from credreg_shared.events.cloudevents import Envelope, from_record

T = TypeVar("T")

PATIENCE = 60.0
"""Seconds before a wait is declared stuck; a guard against hangs, not a timing assertion."""


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, *, patience: float = PATIENCE
) -> T:
    """Poll `probe` until it returns something truthy; fail after `patience` seconds."""
    last: T | None = None
    try:
        async with asyncio.timeout(patience):
            while True:
                last = await probe()
                if last:
                    return last
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"never happened: {what} (last: {last!r})") from None


async def read_log(
    bootstrap_servers: str, topic: str, partitions: int
) -> list[tuple[bytes | None, Envelope]]:
    """Every record now on `topic`, up to its current end offsets, decoded: (key, envelope)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        found: list[tuple[bytes | None, Envelope]] = []

        async def read_to_the_end() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(
                    (r.key, from_record(r.key, r.value, r.headers))
                    for r in records
                    if r.offset < ends[TopicPartition(r.topic, r.partition)]
                )
            positions = {tp: await consumer.position(tp) for tp in ends}
            return all(positions[tp] >= end for tp, end in ends.items())

        await eventually(read_to_the_end, f"read {topic} to its end offsets")
        return found
    finally:
        await consumer.stop()


async def delete_topics(bootstrap_servers: str, topics: Iterable[str]) -> None:
    """Remove a test's topics; a topic already gone is fine (cleanup must not fail a test)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(list(topics))
    finally:
        await admin.close()
