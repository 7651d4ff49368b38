"""Smoke tests that prove the Kafka broker is real: idempotent produce, manual commit, headers."""

from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

pytestmark = pytest.mark.integration

RECORDS = 60
PROCESSED_BEFORE_STOP = 25


async def produce_numbered(bootstrap: str, topic: str) -> dict[bytes, list[tuple[str, bytes]]]:
    """Send RECORDS records with an idempotent, acks=all producer; return headers by value."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    sent: dict[bytes, list[tuple[str, bytes]]] = {}
    try:
        for n in range(RECORDS):
            value = f"record-{n}".encode()
            headers = [("ce_id", f"id-{n}".encode()), ("content-type", b"application/json")]
            metadata = await producer.send_and_wait(
                topic, value, key=f"key-{n % 7}".encode(), headers=headers
            )
            assert metadata.offset >= 0
            sent[value] = headers
    finally:
        await producer.stop()
    return sent


def consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    """A consumer that never commits by itself."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def drain(
    source: AIOKafkaConsumer, wanted: int, idle_polls: int = 3
) -> list[ConsumerRecord[bytes, bytes]]:
    """Fetch until `wanted` records arrived or the topic stays idle for a few polls."""
    records: list[ConsumerRecord[bytes, bytes]] = []
    idle = 0
    while len(records) < wanted and idle < idle_polls:
        batch = await source.getmany(timeout_ms=2000)
        fetched = [r for part in batch.values() for r in part]
        idle = 0 if fetched else idle + 1
        records.extend(fetched)
    return records


async def test_committed_records_are_not_redelivered_and_nothing_is_lost(
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
) -> None:
    topic = await new_topic("smoke")
    group = unique_name("group")
    sent = await produce_numbered(kafka_bootstrap, topic)

    first = consumer(kafka_bootstrap, topic, group)
    await first.start()
    try:
        fetched = await drain(first, RECORDS)
        processed = fetched[:PROCESSED_BEFORE_STOP]
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for record in processed:
            offsets[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(
                record.offset + 1, ""
            )
        # Commit only what was processed, as a consumer that crashes mid-batch would have.
        await first.commit(offsets)
    finally:
        await first.stop()

    second = consumer(kafka_bootstrap, topic, group)
    await second.start()
    try:
        redelivered = await drain(second, RECORDS)
    finally:
        await second.stop()

    processed_values = [r.value for r in processed]
    redelivered_values = [r.value for r in redelivered]
    assert len(fetched) == RECORDS
    assert not set(processed_values) & set(redelivered_values), "committed records came back"
    assert sorted(processed_values + redelivered_values) == sorted(sent), "records were lost"
    for record in processed + redelivered:
        assert record.value is not None
        assert list(record.headers) == sent[record.value]


async def test_per_key_order_is_kept(
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
) -> None:
    topic = await new_topic("order")
    await produce_numbered(kafka_bootstrap, topic)
    reader = consumer(kafka_bootstrap, topic, unique_name("group"))
    await reader.start()
    try:
        records = await drain(reader, RECORDS)
    finally:
        await reader.stop()
    by_key: dict[bytes, list[int]] = {}
    for record in records:
        assert record.key is not None and record.value is not None
        by_key.setdefault(record.key, []).append(int(record.value.split(b"-")[1]))
    assert len(records) == RECORDS
    assert all(numbers == sorted(numbers) for numbers in by_key.values())
