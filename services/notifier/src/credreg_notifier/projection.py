"""The consumer side: a lifecycle event goes into its holder's live stream and becomes one
delivery per matching subscription."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
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
from credreg_shared.messaging.handlers import ConsumedEvent, HandlerRegistry
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
        await self.on_notices([envelope])

    async def on_notices(self, envelopes: Sequence[Envelope]) -> None:
        """`on_credential_event` for a fetched batch of notices, in order: the streams' writes
        per event, the subscriptions of all of them in one read, and their deliveries in one
        bulk (so that the busier the log, the fewer round trips per notice)."""
        events = [(envelope, envelope.data_as(models.CredentialEvent)) for envelope in envelopes]
        # Independent writes and reads: one round trip's wait for both, not two. Both are
        # awaited whatever happens, and the first failure is raised as it is (the consumer
        # retries a StorageUnavailable).
        streamed, matched = await asyncio.gather(
            self._to_holder_streams(events),
            self.subscriptions.matching_many(
                [(event.credential_id, event.holder_id, event.issuer_id) for _, event in events]
            ),
            return_exceptions=True,
        )
        for outcome in (streamed, matched):
            if isinstance(outcome, BaseException):
                raise outcome
        planned = self._deliveries(events, cast(list[list[Document]], matched))
        if not planned:
            return
        added = await self.deliveries.add_many_once([delivery for delivery, _ in planned])
        for delivery, claimed in planned:
            if delivery["_id"] not in added:
                log.info(
                    "delivery already planned",
                    extra={
                        "event_id": delivery["event_id"],
                        "subscription_id": delivery["subscription_id"],
                    },
                )
            elif self.handoff is not None:
                self.handoff.offer(delivery["_id"], delivery if claimed else None)

    def _deliveries(
        self,
        events: Sequence[tuple[Envelope, models.CredentialEvent]],
        matched: Sequence[Sequence[Document]],
    ) -> list[tuple[Document, bool]]:
        """Each event's deliveries, and whether each is born claimed for this process's lanes."""
        room = self.handoff.room() if self.handoff is not None and self.lease is not None else 0
        planned = []
        for (envelope, event), matching in zip(events, matched, strict=True):
            for subscription in matching:
                # A subscription names a target; its owner decides what it may hear of.
                if not notice_for_owner(
                    subscription, holder_id=event.holder_id, issuer_id=event.issuer_id
                ):
                    continue
                now = self.clock()
                # Born claimed while the lanes can take it now: one write fewer per notice than
                # a pending delivery that a lane then claims. If this process dies, its marker
                # falls due when the lease ends, and any replica's lane claims it then.
                lease = Lease.new(now, self.lease) if self.lease is not None and room > 0 else None
                room -= lease is not None
                planned.append(
                    (new_delivery(subscription["_id"], envelope, now, lease), lease is not None)
                )
        return planned

    async def _to_holder_streams(
        self, events: Sequence[tuple[Envelope, models.CredentialEvent]]
    ) -> None:
        if self.holder_events is None:
            return
        items = [(event.holder_id, *holder_event(envelope)) for envelope, event in events]
        added = await self.holder_events.append_many_once(items)
        for (holder_id, event_id, _, _), stored in zip(items, added, strict=True):
            # Woken either way: a redelivery may be the first write that completed.
            if self.wakeups is not None:
                self.wakeups.wake(holder_id)
            if not stored:
                log.info("holder event already stored", extra={"event_id": event_id})

    def register(
        self, registry: HandlerRegistry, *, also: HandlerRegistry | None = None
    ) -> HandlerRegistry:
        """The event → handler table: every lifecycle notice, a fetched batch at a time; and
        the per-event handlers of `also` for their events of each batch, one at a time."""
        others = also if also is not None else HandlerRegistry()
        notices = frozenset(kind.event_type for kind in NOTICE_EVENTS)

        async def on_batch(consumed: Sequence[ConsumedEvent]) -> None:
            for event in consumed:
                for handler in others.handlers_for(event.envelope.type):
                    await handler(event.envelope)
            batch = [event.envelope for event in consumed if event.envelope.type in notices]
            if batch:
                await self.on_notices(batch)

        registry.register_batch([*notices, *others.event_types], on_batch)
        return registry
