"""The ownership view built from the credentials topic, and its one event → handler table."""

from __future__ import annotations

from credreg_revocation.domain import status_after
from credreg_revocation.ports import CredentialRepository
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging.handlers import HandlerRegistry


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
