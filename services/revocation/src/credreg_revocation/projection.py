"""The ownership view built from the credentials topic, institutions' keys from theirs, and the
event → handler table."""

from __future__ import annotations

from credreg_revocation.domain import status_after
from credreg_revocation.expiry import expiring_kind
from credreg_revocation.ports import CredentialRepository
from credreg_revocation.scheduling import ExpiryScheduling
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging.handlers import HandlerRegistry


class OwnershipProjection:
    """Builds the ownership view from the credentials topic, each event applied once."""

    def __init__(
        self, credentials: CredentialRepository, scheduling: ExpiryScheduling | None = None
    ) -> None:
        self.credentials = credentials
        self.scheduling = scheduling

    async def on_issued(self, envelope: Envelope) -> None:
        """A credential exists: remember its issuer, holder and expiry, status active; and
        schedule its expiry notices."""
        event = envelope.data_as(models.CredentialIssued)
        if event.valid_until is not None and self.scheduling is not None:
            known = await self.credentials.get(event.credential_id)
            # Scheduled before it is recorded: a crash in between schedules it again on
            # redelivery (a notice twice in the schedule is claimed once), never not at all.
            if known is None or known.valid_until is None:
                await self.scheduling.plan(
                    event.credential_id, issuer_id=event.issuer_id, valid_until=event.valid_until
                )
        await self.credentials.record_issued(
            event.credential_id,
            issuer_id=event.issuer_id,
            holder_id=event.holder_id,
            event_id=envelope.id,
            valid_until=event.valid_until,
            achievement_id=event.achievement_id,
        )

    async def on_expiring(self, envelope: Envelope) -> None:
        """An expiring notice on the log (this service's own, or replayed): never again."""
        event = envelope.data_as(models.CredentialExpiring)
        if event.lead_days is not None:
            await self.credentials.record_announced(
                event.credential_id, kind=expiring_kind(event.lead_days), event_id=envelope.id
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
        registry.register(models.CredentialExpiring, self.on_expiring)
        return registry
