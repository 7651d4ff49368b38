"""KafkaPublisher over the real broker: acknowledged events arrive decodable, keyed and in order."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from credreg_shared.errors import PublishUnavailable
from credreg_shared.events.cloudevents import Envelope, KafkaRecord, from_record, to_record
from credreg_shared.events.models import CredentialIssued, CredentialRevoked, EventData
from credreg_shared.events.samples import credential_issued, every_event_kind, sample_envelope
from credreg_shared.messaging.producer import KafkaPublisher

pytestmark = pytest.mark.integration


async def read_all(bootstrap: str, topic: str, wanted: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from the start, until `wanted` arrived or it stays idle."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    idle = 0
    try:
        while len(records) < wanted and idle < 5:
            batch = await consumer.getmany(timeout_ms=2000)
            fetched = [r for part in batch.values() for r in part]
            idle = 0 if fetched else idle + 1
            records.extend(fetched)
    finally:
        await consumer.stop()
    return records


def decoded(records: list[ConsumerRecord[bytes, bytes]]) -> list[Envelope]:
    return [from_record(r.key, r.value, r.headers) for r in records]


async def test_published_events_arrive_keyed_and_decodable(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]]
) -> None:
    topic = await new_topic("events")
    envelopes = [sample_envelope(data) for data in every_event_kind()]

    async with KafkaPublisher(kafka_bootstrap) as publisher:
        for envelope in envelopes:
            await publisher.publish(envelope, topic=topic)

    records = await read_all(kafka_bootstrap, topic, len(envelopes))
    assert sorted(decoded(records), key=lambda e: e.id) == sorted(envelopes, key=lambda e: e.id)
    for record in records:
        assert (
            record.key
            == from_record(record.key, record.value, record.headers).data.record_key().encode()
        )


async def test_publish_many_keeps_per_credential_order(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]]
) -> None:
    topic = await new_topic("batch")
    batch: list[Envelope] = []
    for _ in range(20):
        issued = credential_issued()
        revoked = CredentialRevoked(
            credential_id=issued.credential_id,
            issuer_id=issued.issuer_id,
            holder_id=issued.holder_id,
            reason="error",
        )
        batch += [sample_envelope(issued), sample_envelope(revoked)]

    async with KafkaPublisher(kafka_bootstrap) as publisher:
        await publisher.publish_many(batch, topic=topic)

    received = decoded(await read_all(kafka_bootstrap, topic, len(batch)))
    assert sorted(e.id for e in received) == sorted(e.id for e in batch)
    kinds_by_credential: dict[str, list[type[EventData]]] = {}
    for envelope in received:
        kinds_by_credential.setdefault(envelope.subject, []).append(type(envelope.data))
    assert all(k == [CredentialIssued, CredentialRevoked] for k in kinds_by_credential.values())


async def test_encoded_events_arrive_byte_for_byte(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]]
) -> None:
    topic = await new_topic("encoded")
    issued = sample_envelope(credential_issued())
    first = to_record(issued)
    # Spacing no encoder of ours would write: the bytes go out as they were stored.
    spaced = KafkaRecord(first.key, first.value.replace(b'":', b'": '), first.headers)
    assert spaced.value != first.value
    encoded = [spaced] + [to_record(sample_envelope(d)) for d in every_event_kind()]

    async with KafkaPublisher(kafka_bootstrap) as publisher:
        await publisher.publish_encoded(encoded, topic=topic)

    records = await read_all(kafka_bootstrap, topic, len(encoded))
    by_key: dict[bytes, list[tuple[bytes, list[tuple[str, bytes]]]]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append((record.value, list(record.headers)))
    for record in encoded:
        assert (record.value, record.headers) in by_key[record.key]
    assert len(records) == len(encoded)
    assert from_record(spaced.key, spaced.value, spaced.headers) == issued


async def test_a_chunk_of_credentials_goes_out_in_a_few_produce_requests(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]]
) -> None:
    topic = await new_topic("chunk")
    issued = [to_record(sample_envelope(credential_issued())) for _ in range(200)]
    # Signed credentials are ~4 KB: pad these to that size.
    records = [
        KafkaRecord(r.key, r.value + b" " * max(0, 4500 - len(r.value)), r.headers) for r in issued
    ]
    requests: list[str] = []

    async with KafkaPublisher(kafka_bootstrap) as publisher:
        client = publisher._producer.client
        send = client.send

        async def counted(node_id: int, request: Any, **options: Any) -> Any:
            requests.append(type(request).__name__)
            return await send(node_id, request, **options)

        client.send = counted  # type: ignore[method-assign]
        await publisher.publish_encoded(records, topic=topic)

    produced = [name for name in requests if name.startswith("ProduceRequest")]
    # aiokafka's default batch (16 KiB, three such records per partition, one request in flight)
    # took more than 20 requests for these 900 KB.
    assert 1 <= len(produced) <= 10, produced
    assert len(await read_all(kafka_bootstrap, topic, len(records))) == len(records)


async def test_an_ack_that_does_not_come_in_time_is_publish_unavailable(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]]
) -> None:
    topic = await new_topic("slow")
    # No broker round trip fits in a microsecond: the bounded wait always runs out.
    async with KafkaPublisher(kafka_bootstrap, publish_timeout=1e-6) as publisher:
        with pytest.raises(PublishUnavailable, match="TimeoutError"):
            await publisher.publish(sample_envelope(credential_issued()), topic=topic)
        with pytest.raises(PublishUnavailable):
            await publisher.publish_record(topic, key=b"k", value=b"v", headers=[])


async def test_a_kafka_error_leaves_the_adapter_as_publish_unavailable(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]]
) -> None:
    topic = await new_topic("large")
    async with KafkaPublisher(kafka_bootstrap, publish_timeout=30) as publisher:
        # Larger than the producer's max_request_size: refused with a Kafka error, not a timeout.
        with pytest.raises(PublishUnavailable, match="MessageSizeTooLargeError"):
            await publisher.publish_record(topic, key=b"k", value=b"x" * 2_000_000, headers=[])
