"""The issue-one-credential use case: build, publish, answer only after the broker's ack.

With an Idempotency-Key the event is stored before it is published (see `IdempotencyRecord`):
the first request to store it wins, and every request for that key then publishes the stored
event until one of them sees the broker's ack. So a retry after a 503 or a crash issues the
same credential with the same event id (consumers dedupe by it), never a second credential,
and a stored record never answers 201 for an event that no attempt has published.
"""

from __future__ import annotations

import logging

from credreg_issuer.domain import (
    CredentialSigner,
    IdempotencyKeyReused,
    IssueCredential,
    credential_id_for,
    prepare_issuance,
)
from credreg_issuer.ports import IdempotencyRecord, IdempotencyRecords
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging.ports import EventPublisher

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
    ) -> None:
        self.publisher = publisher
        self.records = records
        self.signer = signer
        self.topic = topic
        self.source = source

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
            # The publisher bounds the wait for the ack itself.
            await self.publisher.publish(envelope, topic=self.topic)
        except PublishUnavailable as error:
            # A record already handed to the producer may still reach the log later, so the
            # answer promises nothing either way; the same Idempotency-Key resolves it.
            reason = str(error) or "the event log did not acknowledge"
            raise PublishUnavailable(
                f"{reason}; no credential is confirmed as issued: "
                "retry with the same Idempotency-Key to issue at most one"
            ) from error

    async def _reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        try:
            return await self.records.reserve(record)
        except StorageUnavailable as error:
            reason = str(error) or "the database is unavailable"
            raise StorageUnavailable(f"{reason}; nothing was issued") from error

    async def _mark_published(self, record: IdempotencyRecord) -> None:
        try:
            await self.records.mark_published(record.institution_id, record.key)
        except StorageUnavailable:
            # The credential is issued (the broker acked); an unmarked record only makes a
            # retry publish the same event again, which consumers deduplicate.
            log.warning(
                "issued, but could not mark the idempotency record published",
                extra={"credential_id": record.event.key.decode()},
                exc_info=True,
            )
