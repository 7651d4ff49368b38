"""What a wallet can do with its subscriptions (subscribe, look up, unsubscribe, list
deliveries) and with its holder's live stream (follow it)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from credreg_notifier.domain import (
    HolderEvent,
    NotYourStream,
    SubscribingTooFast,
    SubscriptionNotFound,
    SubscriptionRequest,
    TooManySubscriptions,
    check_secret,
    check_subscriber,
    new_secret,
    new_subscription,
    public,
    shown,
    utc_now,
)
from credreg_notifier.ports import (
    DeliveryRepository,
    HolderEventStore,
    HolderWakeup,
    HolderWakeups,
    OwnerQuotas,
    SecretVault,
    SubscriptionRepository,
    WebhookTargets,
)
from credreg_shared.callers import Caller
from credreg_shared.errors import StorageUnavailable, raise_if_cancelling
from credreg_shared.storage.ports import Document

log = logging.getLogger(__name__)

MAX_LISTED_DELIVERIES = 500
STREAM_PAGE = 100
"""Events read (and held) at a time by one stream: its memory stays bounded however far back
it starts."""
FRESH_WINDOW = 8
"""Numbers a woken stream reads at once, before its counter."""


@dataclass(frozen=True)
class Limits:
    """How many subscriptions an owner keeps, and creates in a minute."""

    per_owner: int = 20
    created_per_minute: int = 10
    secret_overlap: timedelta = timedelta(hours=24)
    """How long a rotated-out secret still signs beside the new one."""


class Subscriptions:
    """Holders' and institutions' subscriptions: each owner sees and changes its own only."""

    def __init__(
        self,
        *,
        subscriptions: SubscriptionRepository,
        deliveries: DeliveryRepository,
        targets: WebhookTargets,
        quotas: OwnerQuotas,
        vault: SecretVault | None = None,
        limits: Limits = Limits(),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.targets = targets
        self.quotas = quotas
        self.vault = vault
        self.limits = limits
        self.clock = clock

    async def subscribe(self, request: SubscriptionRequest, caller: Caller) -> dict[str, Any]:
        """Store a subscription owned by `caller`; the answer carries its signing secret
        (shown this once).

        Raises `NotYourSubscription` (somebody else's holder or issuer id), `TargetRefused`
        for a URL the notifier will not call, `InvalidSecret` for a given secret that is not a
        Standard Webhooks secret, `SubscribingTooFast` and `TooManySubscriptions`; nothing is
        stored then.
        """
        check_subscriber(request, caller)
        await self.targets.check(request.url)
        secret = request.secret if request.secret is not None else new_secret()
        check_secret(secret)
        owner, now = caller.owner, self.clock()
        minute = now.strftime("%Y-%m-%dT%H:%M")
        if not await self.quotas.count_creation(
            owner, minute=minute, limit=self.limits.created_per_minute
        ):
            raise SubscribingTooFast(
                f"at most {self.limits.created_per_minute} subscriptions a minute; retry later"
            )
        if not await self.quotas.reserve(owner, limit=self.limits.per_owner):
            raise TooManySubscriptions(
                f"at most {self.limits.per_owner} subscriptions each: remove one first"
            )
        subscription = new_subscription(request, secret, now, owner=owner)
        subscription["secret"] = self._sealed(subscription["_id"], secret)
        try:
            await self.subscriptions.add(subscription)
        except BaseException:
            await self.quotas.release(owner)
            raise
        return {**public(subscription), "secret": secret}

    async def list(self, caller: Caller) -> dict[str, Any]:
        """The caller's own subscriptions, oldest first."""
        found = await self.subscriptions.owned_by(caller.owner, limit=self.limits.per_owner)
        return {"subscriptions": [public(s) for s in found]}

    async def get(self, subscription_id: str, caller: Caller) -> dict[str, Any]:
        """The caller's subscription without its secret; `SubscriptionNotFound` if there is
        none, or it is somebody else's (the same answer)."""
        return public(await self._owned(subscription_id, caller))

    async def unsubscribe(self, subscription_id: str, caller: Caller) -> None:
        """Remove the caller's subscription; its pending deliveries die when next due."""
        subscription = await self._owned(subscription_id, caller)
        if not await self.subscriptions.remove(subscription["_id"]):
            raise SubscriptionNotFound(subscription_id)
        await self.quotas.release(caller.owner)

    async def deliveries_of(self, subscription_id: str, caller: Caller) -> dict[str, Any]:
        """The subscription's notices with status, attempts and last error (dead letters too)."""
        subscription = await self._owned(subscription_id, caller)
        found = await self.deliveries.of_subscription(
            subscription["_id"], limit=MAX_LISTED_DELIVERIES
        )
        return {"subscription_id": subscription["_id"], "deliveries": [shown(d) for d in found]}

    async def rotate_secret(self, subscription_id: str, caller: Caller) -> dict[str, Any]:
        """A new signing secret (shown this once); the previous one still signs beside it
        for the overlap window, so the wallet can switch without losing a notice."""
        subscription = await self._owned(subscription_id, caller)
        secret = new_secret()
        until = self.clock() + self.limits.secret_overlap
        replaced = await self.subscriptions.replace_secret(
            subscription["_id"],
            secret=self._sealed(subscription["_id"], secret),
            previous=subscription["secret"],
            previous_until=until,
        )
        if not replaced:
            raise SubscriptionNotFound(subscription_id)
        return {"id": subscription["_id"], "secret": secret, "previous_valid_until": until}

    def _sealed(self, subscription_id: str, secret: str) -> str:
        return self.vault.seal(subscription_id, secret) if self.vault is not None else secret

    async def _owned(self, subscription_id: str, caller: Caller) -> Document:
        found = await self.subscriptions.get(subscription_id)
        if found is None or found.get("owner") != caller.owner:
            raise SubscriptionNotFound(subscription_id)
        return found


@dataclass(frozen=True)
class StreamTiming:
    """How a live stream follows its holder's events."""

    poll_seconds: float = 0.5
    """How often a stream looks again at a number counted but not written yet."""
    heartbeat_seconds: float = 15.0
    """A comment this often keeps proxies from closing an idle stream."""
    gap_grace_seconds: float = 10.0
    """A number counted but not written for this long is skipped (its writer died)."""
    recheck_seconds: float = 60.0
    """An idle stream reads its holder's counter itself this often; the consumer and the
    `StreamWatcher` wake it sooner."""


@dataclass
class _Position:
    """Where one stream stands (mutable: it moves with every event sent)."""

    seq: int
    gap: int = 0
    gap_since: float = 0.0
    at_gap: bool = False


class HolderStreams:
    """A holder's live stream: the stored events after a number, then each new one, in order."""

    def __init__(
        self,
        *,
        events: HolderEventStore,
        wakeups: HolderWakeups,
        timing: StreamTiming = StreamTiming(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events = events
        self.wakeups = wakeups
        self.timing = timing
        self.clock = clock

    def open(self, holder_id: str, caller: Caller, *, after: int) -> AsyncGenerator[HolderEvent]:
        """The holder's events after number `after`, endless; only the holder itself may."""
        if caller.holder_id != holder_id:
            raise NotYourStream("only the holder itself may follow its events (holder token)")
        return self.follow(holder_id, after=after)

    async def follow(self, holder_id: str, *, after: int) -> AsyncGenerator[HolderEvent]:
        """Every event after `after`, then each new one; ends only when closed or cancelled."""
        position = _Position(after)
        woken = False
        with self.wakeups.listening(holder_id) as wakeup:
            while True:
                # Cleared before reading: an event stored during the read wakes the next wait.
                wakeup.clear()
                try:
                    async for event in self._stored_after(holder_id, position, woken=woken):
                        yield event
                except StorageUnavailable as outage:
                    raise_if_cancelling(outage)
                    log.warning("holder events unreadable; retrying", extra={"holder": holder_id})
                woken = await self._wait(wakeup, position)

    async def _stored_after(
        self, holder_id: str, position: _Position, *, woken: bool = False
    ) -> AsyncGenerator[HolderEvent]:
        position.at_gap = False
        if woken and not position.gap:
            # Woken for a new event: read the next few numbers straight away, and the counter
            # only if none (or all) of them is written (one read per event instead of two).
            before = position.seq
            async for fresh in self._written_next(holder_id, position):
                yield fresh
            if 0 < position.seq - before < FRESH_WINDOW:
                return
        last = await self.events.last_seq(holder_id)
        while position.seq < last:
            seqs = list(range(position.seq + 1, min(last, position.seq + STREAM_PAGE) + 1))
            written = await self.events.read(holder_id, seqs)
            for seq in seqs:
                if seq not in written:
                    await self._at_gap(holder_id, seq, position)
                    return
                position.seq = seq
                event = written[seq]
                if event is not None:
                    yield event

    async def _written_next(
        self, holder_id: str, position: _Position
    ) -> AsyncGenerator[HolderEvent]:
        """The events written right after the position (of the next `FRESH_WINDOW` numbers),
        up to the first number not written."""
        seqs = list(range(position.seq + 1, position.seq + FRESH_WINDOW + 1))
        written = await self.events.read(holder_id, seqs)
        for seq in seqs:
            if seq not in written:
                return
            position.seq = seq
            event = written[seq]
            if event is not None:
                yield event

    async def _at_gap(self, holder_id: str, seq: int, position: _Position) -> None:
        """Wait for a counted number's event; skip the number once its grace is over."""
        position.at_gap = True
        now = self.clock()
        if position.gap != seq:
            position.gap, position.gap_since = seq, now
        elif now - position.gap_since >= self.timing.gap_grace_seconds:
            await self.events.skip(holder_id, seq)

    async def _wait(self, wakeup: HolderWakeup, position: _Position) -> bool:
        # At a gap its event is about to be written (or never will be): look again soon.
        timing = self.timing
        return await wakeup.wait(timing.poll_seconds if position.at_gap else timing.recheck_seconds)
