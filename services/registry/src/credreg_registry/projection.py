"""Projects credential lifecycle events into the registry's view, exactly once per event.

One view document per credential (``_id`` = credential id). Per-credential order comes from
Kafka (key = credential id); redeliveries are absorbed by ``apply_once``. A lifecycle event that
arrives before the credential's ``issued`` event (a replay from a dead-letter topic, say) leaves
a placeholder carrying that status; ``issued`` later fills in the credential without resetting it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.lifecycle import ACTIVE, next_status
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.storage import IdempotentCollection


def issued_update(event: models.CredentialIssued, at: datetime) -> dict[str, Any]:
    """The view fields an issued event sets (the status only on first sight)."""
    return {
        "$set": {
            "issuer_id": event.issuer_id,
            "holder_id": event.holder_id,
            "achievement": {
                "id": event.achievement_id,
                "name": event.achievement_name,
                "type": event.achievement_type,
                "competencies": [c.model_dump(exclude_none=True) for c in event.competencies],
            },
            "valid_from": event.valid_from,
            "valid_until": event.valid_until,
            "credential": event.credential,
            "issued": True,
            "updated_at": at,
        },
        "$setOnInsert": {"status": ACTIVE},
    }


class CredentialProjection:
    """Event handlers that keep the credential view current."""

    def __init__(self, view: IdempotentCollection) -> None:
        self.view = view

    async def on_issued(self, envelope: Envelope) -> None:
        """A new credential enters the view as active."""
        event = envelope.data_as(models.CredentialIssued)
        await self.view.apply_once(event.credential_id, envelope.id, issued_update(event, now()))

    async def on_status_event(self, envelope: Envelope) -> None:
        """Revoked, suspended, reinstated or expired: move the status if the rules allow it."""
        event = envelope.data_as(models.CredentialEvent)
        existing = await self.view.get(event.credential_id)
        status = next_status(existing.get("status") if existing else None, event)
        fields: dict[str, Any] = {"updated_at": now(), f"last_{event_label(event)}": envelope.time}
        if status is not None:
            fields["status"] = status
        if isinstance(event, models.CredentialRevoked):
            fields["revocation"] = {
                "reason": event.reason,
                "superseded_by": event.superseded_by,
                "at": envelope.time,
            }
        update = {
            "$set": fields,
            "$setOnInsert": {"issuer_id": event.issuer_id, "holder_id": event.holder_id},
        }
        await self.view.apply_once(event.credential_id, envelope.id, update)

    async def on_expiring(self, envelope: Envelope) -> None:
        """Record the advance notice that the credential expires soon."""
        event = envelope.data_as(models.CredentialExpiring)
        update = {"$set": {"expiring_notice": {"valid_until": event.valid_until, "at": now()}}}
        await self.view.apply_once(event.credential_id, envelope.id, update)

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """Map each event type to its handler (the visible event → handler table)."""
        registry.register(models.CredentialIssued, self.on_issued)
        registry.register(models.CredentialRevoked, self.on_status_event)
        registry.register(models.CredentialSuspended, self.on_status_event)
        registry.register(models.CredentialReinstated, self.on_status_event)
        registry.register(models.CredentialExpired, self.on_status_event)
        registry.register(models.CredentialExpiring, self.on_expiring)
        return registry


def event_label(event: models.EventData) -> str:
    """A short name of the event kind (``revoked``, ``suspended`` …) for field names."""
    return event.event_type.split(".")[-2]


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)
