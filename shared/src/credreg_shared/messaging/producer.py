"""The aiokafka adapter of `EventPublisher`: an idempotent, acks=all producer.

Use as ``async with KafkaPublisher(bootstrap) as publisher: await publisher.publish(envelope)``
(or ``start()``/``stop()`` in a lifespan). Every publish returns only after the broker's ack.

aiokafka's idempotent producer retries a broker that is down without end, so each publish
waits at most ``publish_timeout`` seconds; a timeout or a Kafka error leaves this adapter as
`PublishUnavailable`. A record already handed to the producer may still reach the log later,
so that error promises nothing either way: callers say "not confirmed" and stay idempotent.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from credreg_shared.errors import PublishUnavailable
from credreg_shared.events.cloudevents import Envelope, KafkaRecord, to_record

MAX_BATCH_BYTES = 256 * 1024
"""Bytes of records per partition per produce request. aiokafka's default, 16 KiB, holds three
4 KB credentials, and its sender keeps one request in flight per broker: publishing a batch
chunk of 200 took ~46 requests one after the other, ~300 µs of the issuer's CPU per record
(~70 µs with 256 KiB). Below the broker's default `message.max.bytes` (1 MiB)."""


class KafkaPublisher:
    """Publishes envelopes (and raw records) with an idempotent aiokafka producer."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "credreg",
        linger_ms: int = 5,
        max_batch_size: int = MAX_BATCH_BYTES,
        publish_timeout: float | None = None,
        **producer_options: Any,
    ) -> None:
        self.publish_timeout = publish_timeout
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=max_batch_size,
            **producer_options,
        )

    async def start(self) -> None:
        """Connect to the cluster."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush pending records and disconnect."""
        await self._producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, envelope: Envelope, *, topic: str | None = None) -> None:
        """Publish one event to `topic` (default: the data's topic); returns after the ack."""
        record = to_record(envelope)
        async with self._acknowledged():
            await self._producer.send_and_wait(
                topic or envelope.data.topic, record.value, key=record.key, headers=record.headers
            )

    async def publish_many(
        self, envelopes: Sequence[Envelope], *, topic: str | None = None
    ) -> None:
        """Send every event, then await every ack; raises the first failure after all settle."""
        await self._send_all((topic or e.data.topic, to_record(e)) for e in envelopes)

    async def publish_encoded(self, records: Sequence[KafkaRecord], *, topic: str) -> None:
        """Send records encoded before as they are, then await every ack (as `publish_many`)."""
        await self._send_all((topic, record) for record in records)

    async def _send_all(self, records: Iterable[tuple[str, KafkaRecord]]) -> None:
        """Send each (topic, record), then await every ack; raises the first failure after all
        settle."""
        async with self._acknowledged():
            pending: list[asyncio.Future[Any]] = []
            try:
                for topic, record in records:
                    pending.append(
                        await self._producer.send(
                            topic, record.value, key=record.key, headers=record.headers
                        )
                    )
            finally:
                # Settle what was sent even when a later send failed, so no ack goes unobserved.
                outcomes = await asyncio.gather(*pending, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome

    async def publish_record(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        """Publish one raw record as-is (dead letters); returns after the ack."""
        async with self._acknowledged():
            await self._producer.send_and_wait(topic, value, key=key, headers=list(headers))

    @contextlib.asynccontextmanager
    async def _acknowledged(self) -> AsyncIterator[None]:
        """Bound the wait for the ack; Kafka's errors leave as `PublishUnavailable`."""
        try:
            async with asyncio.timeout(self.publish_timeout):
                yield
        except (KafkaError, TimeoutError) as error:
            raise PublishUnavailable(
                f"the event log did not acknowledge ({type(error).__name__})"
            ) from error
