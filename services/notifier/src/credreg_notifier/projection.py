"""The consumer side: a lifecycle event goes into its holder's live stream and becomes one
delivery per matching subscription."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from credreg_notifier.domain import Lease, holder_event, new_delivery, notice_for_owner, utc_now
from credreg_notifier.ports import (
    DeliveryHandoff,
    DeliveryRepository,
    HolderEventStore,
    HolderWakeups,
    SubscriptionRepository,
)
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.storage.ports import Document

log = logging.getLogger(__name__)

NOTICE_EVENTS: tuple[type[models.CredentialEvent], ...] = (
    models.CredentialRevoked,
    models.CredentialSuspended,
    models.CredentialReinstated,
    models.CredentialExpired,
    models.CredentialExpiring,
)


class DeliveryPlanner:
    """Stores holder events and queues deliveries; both are inserts keyed by the event, the
    handler's whole effect, so a replay adds none."""

    def __init__(
        self,
        *,
        subscriptions: SubscriptionRepository,
        deliveries: DeliveryRepository,
        holder_events: HolderEventStore | None = None,
        wakeups: HolderWakeups | None = None,
        handoff: DeliveryHandoff | None = None,
        lease: timedelta | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.lease = lease
        """With a hand-off: how long a delivery is born claimed for this process's lanes."""
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.holder_events = holder_events
        self.wakeups = wakeups
        self.handoff = handoff
        self.clock = clock

    async def on_credential_event(self, envelope: Envelope) -> None:
        """Add the event to its holder's stream, then queue a delivery for every subscription
        to the credential, its holder or its issuer whose owner may hear of it."""
        event = envelope.data_as(models.CredentialEvent)
        # Independent writes and reads: one round trip's wait for both, not two. Both are
        # awaited whatever happens, and the first failure is raised as it is (the consumer
        # retries a StorageUnavailable).
        streamed, matched = await asyncio.gather(
            self._to_holder_stream(event.holder_id, envelope),
            self.subscriptions.matching(
                credential_id=event.credential_id,
                holder_id=event.holder_id,
                issuer_id=event.issuer_id,
            ),
            return_exceptions=True,
        )
        for outcome in (streamed, matched):
            if isinstance(outcome, BaseException):
                raise outcome
        matching = cast(list[Document], matched)
        for subscription in matching:
            # A subscription names a target; its owner decides what it may hear of.
            if not notice_for_owner(
                subscription, holder_id=event.holder_id, issuer_id=event.issuer_id
            ):
                continue
            now = self.clock()
            # Born claimed when the lanes can take it now: one write fewer per notice than a
            # pending delivery that a lane then claims. If this process dies, its marker falls
            # due when the lease ends, and any replica's lane claims it then.
            lease = (
                Lease.new(now, self.lease)
                if self.lease is not None and self.handoff is not None and self.handoff.has_room()
                else None
            )
            delivery = new_delivery(subscription["_id"], envelope, now, lease)
            added = await self.deliveries.add_once(delivery)
            if added and self.handoff is not None:
                self.handoff.offer(delivery["_id"], delivery if lease is not None else None)
            if not added:
                log.info(
                    "delivery already planned",
                    extra={"event_id": envelope.id, "subscription_id": subscription["_id"]},
                )

    async def _to_holder_stream(self, holder_id: str, envelope: Envelope) -> None:
        if self.holder_events is None:
            return
        event_id, kind, body = holder_event(envelope)
        added = await self.holder_events.append_once(
            holder_id, event_id=event_id, kind=kind, body=body
        )
        # Woken either way: a redelivery may be the first write that completed.
        if self.wakeups is not None:
            self.wakeups.wake(holder_id)
        if not added:
            log.info("holder event already stored", extra={"event_id": event_id})

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """The event → handler table: every lifecycle notice, and nothing else."""
        for kind in NOTICE_EVENTS:
            registry.register(kind, self.on_credential_event)
        return registry
