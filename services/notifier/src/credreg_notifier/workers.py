"""The delivery worker: claims due deliveries, sends them signed, records each outcome; and
the stream watcher, which wakes open live streams whose holder has new events.

The delivery worker runs `concurrency` lanes; each takes the next delivery this process's
consumer handed over and claims it by id under a lease, sends it and settles it. A lane that
was handed nothing for `poll_seconds` claims any due delivery instead (retries, and what a
crashed or other replica left), so the hand-off only makes fresh notices faster. `stop` lets
every lane finish its attempt and return; cancellation stays the supervisor's last resort and
is never absorbed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from credreg_notifier.domain import (
    DEAD,
    DELIVERED,
    Handed,
    RetrySchedule,
    Settlement,
    settle,
    utc_now,
)
from credreg_notifier.ports import (
    DeliveryHandoff,
    DeliveryOutcomes,
    DeliveryRepository,
    HolderEventStore,
    HolderWakeups,
    SecretVault,
    SubscriptionRepository,
    WebhookSender,
)
from credreg_shared.errors import StorageUnavailable, raise_if_cancelling
from credreg_shared.storage.ports import Document
from credreg_shared.workers import StoppableLoop

log = logging.getLogger(__name__)

WATCHED_PER_READ = 500


class DeliveryWorker(StoppableLoop):
    """Sends due deliveries; each attempt is claimed under a lease so replicas never overlap."""

    def __init__(
        self,
        *,
        deliveries: DeliveryRepository,
        subscriptions: SubscriptionRepository,
        sender: WebhookSender,
        outcomes: DeliveryOutcomes,
        schedule: RetrySchedule,
        lease: timedelta,
        poll_seconds: float = 0.2,
        concurrency: int = 1,
        vault: SecretVault | None = None,
        handoff: DeliveryHandoff | None = None,
        attempt_timeout: timedelta | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__()
        self.attempt_timeout = attempt_timeout if attempt_timeout is not None else lease / 2
        """The longest an attempt takes: a delivery handed over born claimed is sent on its
        own lease only while that lease outlasts an attempt."""
        self.vault = vault
        self.handoff = handoff
        self.deliveries = deliveries
        self.subscriptions = subscriptions
        self.sender = sender
        self.outcomes = outcomes
        self.schedule = schedule
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.clock = clock

    async def run(self) -> None:
        """Deliver with `concurrency` attempts at a time; return once every lane has stopped."""
        async with asyncio.TaskGroup() as lanes:
            for lane in range(self.concurrency):
                lanes.create_task(self._lane(), name=f"deliveries-{lane}")

    async def _lane(self) -> None:
        sweeping = False
        while not self.stopping:
            # While due work turns up, look again at once; else wait for a hand-off.
            handed = await self._handed(0 if sweeping else self.poll_seconds)
            try:
                if handed is None:
                    busy = await self.deliver_one()
                else:
                    busy = await self.deliver_one(handed.delivery_id, claimed=handed.claimed)
            except StorageUnavailable as outage:
                raise_if_cancelling(outage)
                # The database being away is not a delivery's fault: wait and go on (a
                # handed-over delivery keeps its due marker: a later look finds it).
                log.warning("database unavailable; deliveries wait", exc_info=True)
                sweeping = False
                await self.pause(self.poll_seconds)
                continue
            sweeping = busy and handed is None
            if not busy and self.handoff is None:
                await self.pause(self.poll_seconds)

    async def _handed(self, seconds: float) -> Handed | None:
        """The next delivery handed over within `seconds`; None sooner once `stop` is called."""
        if self.handoff is None:
            return None
        take = asyncio.ensure_future(self.handoff.take(seconds))
        stop = asyncio.ensure_future(self.stopped())
        try:
            await asyncio.wait((take, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not take.done():
                take.cancel()  # a cancelled get takes nothing off the queue
        return take.result() if take.done() and not take.cancelled() else None

    def _secrets(self, subscription: Document, now: datetime) -> tuple[str, list[str]]:
        """The subscription's secret, and a rotated-out one still in its overlap window."""

        def opened(stored: str) -> str:
            if self.vault is None:
                return stored
            return self.vault.open(subscription["_id"], stored)

        until = subscription.get("previous_until")
        previous = subscription.get("previous_secret")
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        also = [opened(previous)] if previous and until is not None and now < until else []
        return opened(subscription["secret"]), also

    async def deliver_one(
        self, delivery_id: str | None = None, *, claimed: Document | None = None
    ) -> bool:
        """Make one due attempt (of `delivery_id`, else of any due delivery); False when
        nothing was due. A delivery `claimed` at its birth by this process is sent on that
        claim while its lease outlasts an attempt (else claimed again by id, when due)."""
        token = uuid.uuid4().hex
        now = self.clock()
        until = now + self.lease
        delivery: Document | None
        if claimed is not None and _aware(claimed["lease_until"]) - now > self.attempt_timeout:
            delivery, token = claimed, str(claimed["lease_token"])
        elif delivery_id is not None:
            delivery = await self.deliveries.claim(
                delivery_id, now=now, lease_until=until, lease_token=token
            )
        else:
            delivery = await self.deliveries.claim_due(
                now=now, lease_until=until, lease_token=token
            )
        if delivery is None:
            return False
        subscription = await self.subscriptions.get(delivery["subscription_id"])
        if subscription is None:
            outcome = Settlement(DEAD, "subscription deleted")
        elif delivery["attempts"] > self.schedule.max_attempts:
            # Reclaimed after workers died mid-attempt until the budget was spent.
            outcome = Settlement(DEAD, delivery.get("last_error") or "attempts exhausted")
        else:
            secret, also = self._secrets(subscription, now)
            error = await self.sender.send(
                url=subscription["url"],
                secret=secret,
                message_id=delivery["_id"],
                body=delivery["body"],
                also=also,
            )
            outcome = settle(delivery["attempts"], error, self.schedule, self.clock())
        recorded = await self.deliveries.settle(delivery["_id"], token, outcome)
        if recorded:
            self.outcomes.record(outcome.status)
        context = {
            "delivery_id": delivery["_id"],
            "subscription_id": delivery["subscription_id"],
            "attempt": delivery["attempts"],
            "status": outcome.status,
            "error": outcome.last_error,
        }
        if not recorded:
            log.warning("delivery lease lost before the outcome was recorded", extra=context)
        elif outcome.status == DEAD:
            log.warning("webhook delivery dead", extra=context)
        elif outcome.status != DELIVERED:
            log.info("webhook delivery failed; will retry", extra=context)
        return True


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class StreamWatcher(StoppableLoop):
    """Wakes this process's open streams whose holder's counter moved (events stored by other
    replicas' consumers): every open stream's counter in one read per 500 holders, instead of
    one read per stream."""

    def __init__(
        self, *, events: HolderEventStore, wakeups: HolderWakeups, poll_seconds: float
    ) -> None:
        super().__init__()
        self.events = events
        self.wakeups = wakeups
        self.poll_seconds = poll_seconds
        self.seen: dict[str, int] = {}
        """Each open stream's holder → its counter at the last look (open streams only)."""

    async def run(self) -> None:
        """Look every `poll_seconds` until stopped."""
        while not self.stopping:
            try:
                await self.watch_once()
            except StorageUnavailable as outage:
                raise_if_cancelling(outage)
                log.warning("database unavailable; streams wait", exc_info=True)
            await self.pause(self.poll_seconds)

    async def watch_once(self) -> None:
        """Wake the holders whose counter moved since the last look (or who are new here)."""
        holders = self.wakeups.listened()
        seen: dict[str, int] = {}
        for first in range(0, len(holders), WATCHED_PER_READ):
            page = holders[first : first + WATCHED_PER_READ]
            counters = await self.events.last_seqs(page)
            for holder in page:
                seen[holder] = counters.get(holder, 0)
                if self.seen.get(holder) != seen[holder]:
                    self.wakeups.wake(holder)
        self.seen = seen
