"""Projects credential lifecycle events into the registry's view, exactly once per event.

One view document per credential (``_id`` = credential id). Every write goes through
``IdempotentCollection.apply_once``: the effect and the event id (``applied_events``) change in
one single-document atomic update, so a redelivered or replayed event changes nothing.

Order: Kafka keeps one credential's events in order (key = credential id), and the shared
lifecycle rules (``next_status``) only let a status move forward (reinstatement lifts a
suspension only), so a stale event cannot undo a newer one. A lifecycle event that arrives
before the credential's ``issued`` event (a rebuild from a dead-letter replay, say) upserts a
*placeholder*: the status it implies, no ``issued`` flag, hidden from the API. The later
``issued`` event fills in the credential and sets ``status`` only on insert, so it never resets
a revocation to active.

Every time stored comes from the event (``envelope.time``), never the clock, so replaying the
log into an empty database rebuilds the very same documents.
"""

from __future__ import annotations

import logging
from typing import Any

from credreg_registry.domain import ISSUED_FLAG
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.lifecycle import ACTIVE, next_status
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.storage.ports import EffectOutcome, IdempotentCollection

log = logging.getLogger(__name__)


def issued_update(event: models.CredentialIssued, envelope: Envelope) -> dict[str, Any]:
    """The update an issued event makes: the credential in full, ``status`` only on insert."""
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
            "issued_at": envelope.time,
            ISSUED_FLAG: True,
        },
        "$setOnInsert": {"status": ACTIVE},
        "$max": {"updated_at": envelope.time},
    }


def status_update(
    event: models.CredentialEvent, envelope: Envelope, current: str | None
) -> dict[str, Any]:
    """The update a status event makes to a credential whose status is `current` (None: new)."""
    target = next_status(current, event)
    changes = target is not None and target != current
    update: dict[str, Any] = {
        "$setOnInsert": {"issuer_id": event.issuer_id, "holder_id": event.holder_id},
        "$max": {"updated_at": envelope.time},
    }
    if not changes:
        # A placeholder still needs a status; an existing document keeps its own.
        update["$setOnInsert"]["status"] = current or ACTIVE
        return update
    update["$set"] = {"status": target, **status_details(event, envelope)}
    if isinstance(event, models.CredentialReinstated):
        update["$unset"] = {"suspension": ""}
    return update


def status_details(event: models.CredentialEvent, envelope: Envelope) -> dict[str, Any]:
    """The fields that record why and when the status changed."""
    match event:
        case models.CredentialRevoked():
            return {
                "revocation": {
                    "reason": event.reason,
                    "superseded_by": event.superseded_by,
                    "revoked_at": envelope.time,
                }
            }
        case models.CredentialSuspended():
            return {"suspension": {"reason": event.reason, "suspended_at": envelope.time}}
        case models.CredentialReinstated():
            return {"reinstated_at": envelope.time}
        case models.CredentialExpired():
            return {"expired_at": envelope.time}
    raise TypeError(f"{type(event).__name__} is not a status event")


def expiring_update(event: models.CredentialExpiring, envelope: Envelope) -> dict[str, Any]:
    """The update an expiring notice makes: a flag with the coming end of validity."""
    return {
        "$set": {"expiring": {"valid_until": event.valid_until, "noticed_at": envelope.time}},
        "$setOnInsert": {
            "status": ACTIVE,
            "issuer_id": event.issuer_id,
            "holder_id": event.holder_id,
        },
        "$max": {"updated_at": envelope.time},
    }


class CredentialProjection:
    """Event handlers that keep the credential view current."""

    def __init__(self, view: IdempotentCollection) -> None:
        self.view = view

    async def on_issued(self, envelope: Envelope) -> None:
        """A new credential enters the view as active (or completes its placeholder)."""
        event = envelope.data_as(models.CredentialIssued)
        await self._apply(event, envelope, issued_update(event, envelope))

    async def on_status_event(self, envelope: Envelope) -> None:
        """Revoked, suspended, reinstated or expired: move the status if the rules allow it."""
        event = envelope.data_as(models.CredentialEvent)
        # Reading outside the update is safe: one credential's events come from one partition,
        # which one consumer handles in order, and apply_once still drops a redelivery.
        existing = await self.view.get(event.credential_id)
        current = existing.get("status") if existing else None
        await self._apply(event, envelope, status_update(event, envelope, current))

    async def on_expiring(self, envelope: Envelope) -> None:
        """Record the advance notice that the credential expires soon."""
        event = envelope.data_as(models.CredentialExpiring)
        await self._apply(event, envelope, expiring_update(event, envelope))

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """Map each event type to its handler (the visible event → handler table)."""
        registry.register(models.CredentialIssued, self.on_issued)
        registry.register(models.CredentialRevoked, self.on_status_event)
        registry.register(models.CredentialSuspended, self.on_status_event)
        registry.register(models.CredentialReinstated, self.on_status_event)
        registry.register(models.CredentialExpired, self.on_status_event)
        registry.register(models.CredentialExpiring, self.on_expiring)
        return registry

    async def _apply(
        self, event: models.CredentialEvent, envelope: Envelope, update: dict[str, Any]
    ) -> None:
        outcome = await self.view.apply_once(event.credential_id, envelope.id, update)
        if outcome is EffectOutcome.ALREADY_APPLIED:
            log.debug(
                "event already in the view",
                extra={"event_id": envelope.id, "event_type": envelope.type},
            )
