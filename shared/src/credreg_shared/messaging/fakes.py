"""In-memory stand-ins for the messaging ports, for unit tests of services and of the runner."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from credreg_shared.events.cloudevents import Envelope, KafkaRecord, from_record, to_record


@dataclass(frozen=True)
class PublishedRecord:
    """One record as it would have reached the broker."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


@dataclass
class InMemoryPublisher:
    """Implements `EventPublisher` and `RecordPublisher`; events go through the real codec.

    Set `fail_with` to make every publish raise it (a broker that is down).
    """

    records: list[PublishedRecord] = field(default_factory=list)
    fail_with: Exception | None = None

    async def publish(self, envelope: Envelope, *, topic: str | None = None) -> None:
        """Record one event, encoded as the Kafka adapter would encode it."""
        await self.publish_encoded([to_record(envelope)], topic=topic or envelope.data.topic)

    async def publish_many(
        self, envelopes: Sequence[Envelope], *, topic: str | None = None
    ) -> None:
        """Record a batch of events."""
        for envelope in envelopes:
            await self.publish(envelope, topic=topic)

    async def publish_encoded(self, records: Sequence[KafkaRecord], *, topic: str) -> None:
        """Record events encoded before, as they are."""
        self._raise_if_failing()
        self.records += [PublishedRecord(topic, r.key, r.value, tuple(r.headers)) for r in records]

    async def publish_record(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        """Record one raw record."""
        self._raise_if_failing()
        self.records.append(PublishedRecord(topic, key, value, tuple(headers)))

    def on(self, topic: str) -> list[PublishedRecord]:
        """The records published to `topic`, in order."""
        return [record for record in self.records if record.topic == topic]

    def envelopes(self, topic: str | None = None) -> list[Envelope]:
        """The events published (to `topic`, if given), decoded back through the codec."""
        return [
            from_record(record.key, record.value, record.headers)
            for record in self.records
            if topic is None or record.topic == topic
        ]

    def _raise_if_failing(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with
