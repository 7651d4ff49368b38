"""The revocation service's handlers: status changes issuers ask for (commands) and the
ownership view built from the log (events), with the one event → handler table."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

from credreg_revocation.domain import (
    EventLogUnavailable,
    Transition,
    owned_record,
    refusal,
    status_after,
)
from credreg_revocation.ports import CredentialRepository
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import EventPublisher, HandlerRegistry


@dataclass(frozen=True)
class ChangeStatus:
    """Command: an institution asks to revoke, suspend or reinstate one of its credentials."""

    credential_id: str
    institution: str
    transition: Transition
    reason: str | None = None
    superseded_by: str | None = None


@dataclass(frozen=True)
class StatusChanged:
    """The accepted change: the credential, its new status and the event the log holds."""

    credential_id: str
    status: str
    event_id: str


class StatusChanges:
    """Changes credential statuses for their issuers: claim in the view, publish, or undo."""

    def __init__(
        self,
        *,
        credentials: CredentialRepository,
        publisher: EventPublisher,
        topic: str,
        source: str,
        publish_timeout: float = 10.0,
    ) -> None:
        self.credentials = credentials
        self.publisher = publisher
        self.topic = topic
        self.source = source
        self.publish_timeout = publish_timeout

    async def handle(self, command: ChangeStatus) -> StatusChanged:
        """404 unknown, 403 not the issuer, 409 not allowed now, 503 broker down; else done.

        The claim is one conditional single-document update, so of two concurrent requests
        (on one replica or two) exactly one wins and publishes; the other finds nothing to
        change. Returns only after the broker acknowledged the event.
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
            # aiokafka's idempotent producer retries a down broker without end: bound the wait.
            async with asyncio.timeout(self.publish_timeout):
                await self.publisher.publish(envelope, topic=self.topic)
        except BaseException as error:
            # Whatever stopped the publish (broker down, timeout, cancellation), the claim
            # must not outlive it, or the view would say revoked with no event in the log.
            await self.credentials.release(credential_id, event_id=event_id, status=before.status)
            if isinstance(error, KafkaError | TimeoutError):
                # A record already handed to the producer may still reach the log later; the
                # view then follows the log (the undo removed the event id from it).
                raise EventLogUnavailable(
                    f"the event log did not acknowledge ({type(error).__name__}); "
                    "no change is confirmed"
                ) from error
            raise
        return StatusChanged(credential_id, transition.target, event_id)


def event_details(command: ChangeStatus) -> dict[str, Any]:
    """The event fields that come from the request itself."""
    details: dict[str, Any] = {}
    if command.reason is not None:
        details["reason"] = command.reason
    if command.superseded_by is not None:
        details["superseded_by"] = command.superseded_by
    return details


class OwnershipProjection:
    """Builds the ownership view from the credentials topic, each event applied once."""

    def __init__(self, credentials: CredentialRepository) -> None:
        self.credentials = credentials

    async def on_issued(self, envelope: Envelope) -> None:
        """A credential exists: remember its issuer and holder, status active."""
        event = envelope.data_as(models.CredentialIssued)
        await self.credentials.record_issued(
            event.credential_id,
            issuer_id=event.issuer_id,
            holder_id=event.holder_id,
            event_id=envelope.id,
        )

    async def on_status_changed(self, envelope: Envelope) -> None:
        """Revoked, suspended, reinstated, expired: move the status as the lifecycle allows."""
        event = envelope.data_as(models.CredentialEvent)
        change = status_after(event)
        if change is None:
            return
        status, sources = change
        await self.credentials.record_status(
            event.credential_id,
            issuer_id=event.issuer_id,
            holder_id=event.holder_id,
            event_id=envelope.id,
            status=status,
            sources=sources,
        )

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """The event → handler table of the revocation service."""
        registry.register(models.CredentialIssued, self.on_issued)
        registry.register(models.CredentialRevoked, self.on_status_changed)
        registry.register(models.CredentialSuspended, self.on_status_changed)
        registry.register(models.CredentialReinstated, self.on_status_changed)
        registry.register(models.CredentialExpired, self.on_status_changed)
        return registry
