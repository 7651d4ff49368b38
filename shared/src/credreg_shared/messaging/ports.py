"""Ports of the messaging layer: what services depend on instead of aiokafka itself."""

from collections.abc import Sequence
from typing import Protocol

from credreg_shared.events.cloudevents import Envelope, KafkaRecord


class EventPublisher(Protocol):
    """Publishes events; returns only after the broker acknowledged them (acks=all).

    Raises `credreg_shared.errors.PublishUnavailable` when no ack came within the adapter's
    bounded wait (the record may still reach the log later).
    """

    async def publish(self, envelope: Envelope, *, topic: str | None = None) -> None:
        """Publish one event to `topic` (default: the data's own topic) and await the ack."""
        ...

    async def publish_many(
        self, envelopes: Sequence[Envelope], *, topic: str | None = None
    ) -> None:
        """Publish a batch (each to `topic` or its data's topic); returns once all are acked."""
        ...

    async def publish_encoded(self, records: Sequence[KafkaRecord], *, topic: str) -> None:
        """Publish events encoded before (`to_record`) byte for byte; returns once all are acked."""
        ...


class RecordPublisher(Protocol):
    """Publishes raw records (dead letters keep the original bytes); awaits the broker ack."""

    async def publish_record(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        """Publish one record as-is to `topic` and await the ack."""
        ...
