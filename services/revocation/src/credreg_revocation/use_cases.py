"""The revocation service's use case: issuers change their credentials' statuses."""

from __future__ import annotations

import uuid

from credreg_revocation.domain import (
    ChangeStatus,
    StatusChanged,
    event_details,
    owned_record,
    refusal,
)
from credreg_revocation.ports import CredentialRepository, InstitutionKeys
from credreg_shared.api_keys import KeptApiKey
from credreg_shared.errors import PublishUnavailable
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging.ports import EventPublisher


class StatusChanges:
    """Changes credential statuses for their issuers: claim in the view, publish, or undo."""

    def __init__(
        self,
        *,
        credentials: CredentialRepository,
        publisher: EventPublisher,
        topic: str,
        source: str,
    ) -> None:
        self.credentials = credentials
        self.publisher = publisher
        self.topic = topic
        self.source = source

    async def handle(self, command: ChangeStatus) -> StatusChanged:
        """The change, once the log acknowledged its event; else why not (nothing changed).

        Raises `UnknownCredential`, `NotTheIssuer`, `TransitionNotAllowed`, or
        `PublishUnavailable` when the log did not acknowledge in time (the claim undone). The
        claim is one conditional single-document update, so of two concurrent requests (on one
        replica or two) exactly one wins and publishes; the other finds nothing to change.
        """
        transition, credential_id = command.transition, command.credential_id
        record = owned_record(
            await self.credentials.get(credential_id), credential_id, command.institution
        )
        # Built before the claim, so an invalid request never leaves a claim behind.
        data = transition.event.model_validate(
            {
                "credential_id": credential_id,
                "issuer_id": record.issuer_id,
                "holder_id": record.holder_id,
                **event_details(command),
            }
        )
        event_id = str(uuid.uuid4())
        before = await self.credentials.claim(
            credential_id,
            issuer_id=command.institution,
            event_id=event_id,
            status=transition.target,
            sources=transition.sources,
        )
        if before is None:
            current = await self.credentials.get(credential_id)
            raise refusal(transition, credential_id, current.status if current else None)
        envelope = new_envelope(data, source=self.source, event_id=event_id)
        try:
            # The publisher bounds its wait for the ack (PublishUnavailable after that).
            await self.publisher.publish(envelope, topic=self.topic)
        except BaseException as error:
            # Whatever stopped the publish (no ack, a bug, a cancellation), the claim must not
            # outlive it, or the view would say revoked with no event in the log.
            await self.credentials.release(credential_id, event_id=event_id, status=before.status)
            if isinstance(error, PublishUnavailable):
                # A record already handed to the producer may still reach the log later; the
                # view then follows the log (the undo removed the event id from it).
                cause = error.__cause__ or error
                raise PublishUnavailable(
                    f"the event log did not acknowledge ({type(cause).__name__}); "
                    "no change is confirmed"
                ) from error
            raise
        return StatusChanged(credential_id, transition.target, event_id)


class KeptKeys:
    """Institutions' API keys kept by the issuer and announced on the log: who calls."""

    def __init__(self, keys: InstitutionKeys) -> None:
        self.keys = keys

    async def find(self, digest: str) -> KeptApiKey | None:
        """The key with this SHA-256 digest (hex), if the log announced it."""
        return await self.keys.find(digest)
