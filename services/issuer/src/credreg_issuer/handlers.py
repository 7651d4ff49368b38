"""The issue-one-credential use case: build, publish, answer only after the broker's ack.

With an Idempotency-Key the event is stored before it is published (see `IdempotencyRecord`):
the first request to store it wins, and every request for that key then publishes the stored
event until one of them sees the broker's ack. So a retry after a 503 or a crash issues the
same credential with the same event id (consumers dedupe by it), never a second credential,
and a stored record never answers 201 for an event that no attempt has published.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, PyMongoError

from credreg_issuer.commands import IssueCredential
from credreg_issuer.issuance import (
    IdempotencyKeyReused,
    IssuanceUnavailable,
    credential_id_for,
    prepare_issuance,
)
from credreg_issuer.ports import IdempotencyRecord, IdempotencyRecords
from credreg_issuer.signing import CredentialSigner
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging import EventPublisher

log = logging.getLogger(__name__)


class IssueCredentials:
    """Issues credentials for authenticated institutions."""

    def __init__(
        self,
        *,
        publisher: EventPublisher,
        records: IdempotencyRecords,
        signer: CredentialSigner,
        topic: str,
        source: str,
        publish_timeout: float = 10.0,
    ) -> None:
        self.publisher = publisher
        self.records = records
        self.signer = signer
        self.topic = topic
        self.source = source
        self.publish_timeout = publish_timeout

    async def handle(
        self, command: IssueCredential, *, institution: str, idempotency_key: str | None = None
    ) -> Envelope:
        """The acknowledged `credential.issued` event of the credential the command asks for."""
        envelope = prepare_issuance(
            command,
            institution=institution,
            credential_id=credential_id_for(institution, idempotency_key),
            source=self.source,
            signer=self.signer,
        )
        if idempotency_key is None:
            await self._publish(envelope)
            return envelope
        record = await self._reserve(
            IdempotencyRecord.of(
                envelope,
                institution_id=institution,
                key=idempotency_key,
                request_digest=command.digest(),
            )
        )
        if record.request_digest != command.digest():
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        stored = record.envelope
        if not record.published:
            await self._publish(stored)
            await self._mark_published(record)
        return stored

    async def _publish(self, envelope: Envelope) -> None:
        try:
            # aiokafka's idempotent producer retries a down broker without end: bound the wait.
            async with asyncio.timeout(self.publish_timeout):
                await self.publisher.publish(envelope, topic=self.topic)
        except (KafkaError, TimeoutError) as error:
            # A record already handed to the producer may still reach the log later, so the
            # answer promises nothing either way; the same Idempotency-Key resolves it.
            raise IssuanceUnavailable(
                f"the event log did not acknowledge ({type(error).__name__}); no credential is "
                "confirmed as issued: retry with the same Idempotency-Key to issue at most one"
            ) from error

    async def _reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        try:
            return await self.records.reserve(record)
        except ConnectionFailure as error:
            raise IssuanceUnavailable(
                f"the database is unavailable ({type(error).__name__}); nothing was issued"
            ) from error

    async def _mark_published(self, record: IdempotencyRecord) -> None:
        try:
            await self.records.mark_published(record.institution_id, record.key)
        except PyMongoError:
            # The credential is issued (the broker acked); an unmarked record only makes a
            # retry publish the same event again, which consumers deduplicate.
            log.warning(
                "issued, but could not mark the idempotency record published",
                extra={"credential_id": record.event.key.decode()},
                exc_info=True,
            )
