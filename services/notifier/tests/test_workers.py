"""The delivery worker over in-memory fakes: its state machine, and how it stops.

The stop tests bound every wait: a worker that absorbs its cancellation, or a lane that keeps
polling after `stop`, fails them instead of hanging the run (the CI hang this guards against).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from credreg_notifier.adapters.fakes import (
    InMemoryDeliveries,
    InMemorySubscriptions,
    RecordedOutcomes,
    ScriptedSender,
)
from credreg_notifier.adapters.handoff import InProcessHandoff
from credreg_notifier.domain import (
    DEAD,
    DELIVERED,
    IN_FLIGHT,
    PENDING,
    Lease,
    RetrySchedule,
    Settlement,
    new_delivery,
)
from credreg_notifier.ports import DeliveryRepository, WebhookSender
from credreg_notifier.workers import DeliveryWorker
from credreg_shared.errors import StorageUnavailable
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.storage.ports import Document
from credreg_shared.testing import eventually, finishes

HOLDER = "did:key:holder-1"
SECRET = "whsec_" + "A" * 44
BOUND = 5.0  # seconds; a guard against hangs, not a timing assertion


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def revoked() -> Envelope:
    return samples.sample_envelope(
        models.CredentialRevoked(
            credential_id="urn:uuid:c-9",
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=HOLDER,
            reason="issued in error",
        )
    )


@pytest.fixture
async def subscriptions() -> InMemorySubscriptions:
    store = InMemorySubscriptions()
    await store.add(
        {
            "_id": "sub",
            "holder_id": HOLDER,
            "credential_id": None,
            "url": "https://w.example/sub",
            "secret": SECRET,
            "created_at": Clock()(),
        }
    )
    return store


async def planned(deliveries: InMemoryDeliveries, clock: Clock) -> Document:
    """One delivery to ``sub``, due now; the stored document itself."""
    delivery = new_delivery("sub", revoked(), clock())
    assert await deliveries.add_once(delivery)
    return deliveries.documents[delivery["_id"]]


def worker_for(
    subscriptions: InMemorySubscriptions,
    deliveries: DeliveryRepository,
    sender: WebhookSender,
    clock: Clock,
    *,
    max_attempts: int = 4,
    outcomes: RecordedOutcomes | None = None,
    poll_seconds: float = 0.01,
    concurrency: int = 1,
    handoff: InProcessHandoff | None = None,
) -> DeliveryWorker:
    return DeliveryWorker(
        deliveries=deliveries,
        subscriptions=subscriptions,
        sender=sender,
        outcomes=outcomes or RecordedOutcomes(),
        schedule=RetrySchedule(max_attempts=max_attempts, base_seconds=1, max_seconds=60),
        lease=timedelta(seconds=30),
        poll_seconds=poll_seconds,
        concurrency=concurrency,
        handoff=handoff,
        clock=clock,
    )


def until(condition: Callable[[], bool], what: str) -> Awaitable[bool]:
    """Wait until `condition()` holds; fail after `BOUND` seconds."""

    async def holds() -> bool:
        return condition()

    return eventually(holds, what, patience=BOUND)


# The state machine, one attempt at a time


async def test_a_2xx_answer_delivers_on_the_first_attempt(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = InMemoryDeliveries(), ScriptedSender(), Clock()
    delivery = await planned(deliveries, clock)
    worker = worker_for(subscriptions, deliveries, sender, clock)
    assert await worker.deliver_one() is True
    assert await worker.deliver_one() is False
    assert (delivery["status"], delivery["attempts"]) == (DELIVERED, 1)
    assert sender.calls[0]["message_id"] == delivery["_id"]
    assert sender.calls[0]["url"] == "https://w.example/sub"
    assert sender.calls[0]["body"] == delivery["body"]


async def test_failures_wait_their_backoff_and_retry_under_the_same_webhook_id(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, clock = InMemoryDeliveries(), Clock()
    sender = ScriptedSender("HTTP 500", "ConnectError: refused")
    delivery = await planned(deliveries, clock)
    worker = worker_for(subscriptions, deliveries, sender, clock)

    assert await worker.deliver_one() is True
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        PENDING,
        1,
        "HTTP 500",
    )
    assert await worker.deliver_one() is False  # not due before its backoff
    clock.advance(1)
    assert await worker.deliver_one() is True
    assert delivery["next_attempt_at"] == clock.now + timedelta(seconds=2)
    clock.advance(2)
    assert await worker.deliver_one() is True

    assert (delivery["status"], delivery["attempts"]) == (DELIVERED, 3)
    assert len(sender.calls) == 3
    assert {call["message_id"] for call in sender.calls} == {delivery["_id"]}


async def test_a_target_that_always_fails_becomes_a_dead_letter_after_max_attempts(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, clock = InMemoryDeliveries(), Clock()
    sender = ScriptedSender(*["HTTP 503"] * 10)
    delivery = await planned(deliveries, clock)
    worker = worker_for(subscriptions, deliveries, sender, clock, max_attempts=3)
    for _ in range(10):
        await worker.deliver_one()
        clock.advance(3600)
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        DEAD,
        3,
        "HTTP 503",
    )
    assert len(sender.calls) == 3


async def test_a_deleted_subscription_turns_its_delivery_dead_without_sending(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = InMemoryDeliveries(), ScriptedSender(), Clock()
    delivery = await planned(deliveries, clock)
    await subscriptions.remove("sub")
    await worker_for(subscriptions, deliveries, sender, clock).deliver_one()
    assert (delivery["status"], delivery["last_error"]) == (DEAD, "subscription deleted")
    assert sender.calls == []


async def test_a_crashed_workers_lease_expires_and_its_late_outcome_is_ignored(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = InMemoryDeliveries(), ScriptedSender(), Clock()
    await planned(deliveries, clock)
    stalled = await deliveries.claim_due(
        now=clock(), lease_until=clock.now + timedelta(seconds=30), lease_token="stalled"
    )
    assert stalled is not None and stalled["status"] == IN_FLIGHT
    worker = worker_for(subscriptions, deliveries, sender, clock)
    assert await worker.deliver_one() is False  # the lease still holds
    clock.advance(31)
    assert await worker.deliver_one() is True
    assert deliveries.documents[stalled["_id"]]["status"] == DELIVERED
    assert sender.calls[0]["message_id"] == stalled["_id"]
    late = await deliveries.settle(stalled["_id"], "stalled", Settlement(DEAD, "too late"))
    assert late is False
    assert deliveries.documents[stalled["_id"]]["status"] == DELIVERED


async def test_a_delivery_reclaimed_past_its_budget_dies_without_another_send(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = InMemoryDeliveries(), ScriptedSender(), Clock()
    delivery = await planned(deliveries, clock)
    delivery.update(attempts=3, last_error="HTTP 502")  # three workers died mid-attempt
    outcomes = RecordedOutcomes()
    worker = worker_for(subscriptions, deliveries, sender, clock, max_attempts=3, outcomes=outcomes)
    assert await worker.deliver_one() is True
    assert (delivery["status"], delivery["last_error"]) == (DEAD, "HTTP 502")
    assert sender.calls == []
    assert outcomes.statuses == [DEAD]


async def test_each_recorded_outcome_is_reported(subscriptions: InMemorySubscriptions) -> None:
    deliveries, clock, outcomes = InMemoryDeliveries(), Clock(), RecordedOutcomes()
    await planned(deliveries, clock)
    sender = ScriptedSender("HTTP 500")
    worker = worker_for(subscriptions, deliveries, sender, clock, outcomes=outcomes)
    await worker.deliver_one()
    clock.advance(60)
    await worker.deliver_one()
    assert outcomes.statuses == [PENDING, DELIVERED]


async def test_an_outcome_recorded_too_late_is_not_reported(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, clock, outcomes = InMemoryDeliveries(), Clock(), RecordedOutcomes()
    delivery = await planned(deliveries, clock)

    class SlowSender:
        """Takes longer than the lease: another worker reclaims the delivery meanwhile."""

        async def send(
            self, *, url: str, secret: str, message_id: str, body: str, also: object = ()
        ) -> str | None:
            clock.advance(31)
            assert await deliveries.claim_due(
                now=clock(), lease_until=clock.now + timedelta(seconds=30), lease_token="other"
            )
            return None

    worker = worker_for(subscriptions, deliveries, SlowSender(), clock, outcomes=outcomes)
    assert await worker.deliver_one() is True
    assert (delivery["status"], delivery["lease_token"]) == (IN_FLIGHT, "other")
    assert outcomes.statuses == []


# Running, stopping and cancelling


class GatedDeliveries(InMemoryDeliveries):
    """Claims wait at a gate the test opens; a cancelled claim fails as an outage.

    That is what a careless adapter does when the driver closes the connection under a
    cancelled call: it reports the closed connection as the database being unavailable.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.claims_started = 0
        self.fail_with: Exception | None = None

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        self.claims_started += 1
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            raise StorageUnavailable("the database is unavailable (AutoReconnect)") from None
        if self.fail_with is not None:
            raise self.fail_with
        return await super().claim_due(now=now, lease_until=lease_until, lease_token=lease_token)


async def test_a_lane_cancelled_mid_claim_ends_even_if_the_claim_fails_as_an_outage(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries = GatedDeliveries()
    worker = worker_for(subscriptions, deliveries, ScriptedSender(), Clock(), concurrency=3)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: deliveries.claims_started == 3, "every lane claims")
        task.cancel()
        assert await finishes(task, BOUND), "the worker absorbed its cancellation and polls on"
        assert task.cancelled()
        assert deliveries.claims_started == 3, "a lane claimed again after its cancellation"
    finally:
        worker.stop()
        deliveries.gate.set()
        await finishes(task, BOUND)


async def test_stop_mid_claim_lets_every_lane_finish_its_attempt_and_return(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = GatedDeliveries(), ScriptedSender(), Clock()
    delivery = await planned(deliveries, clock)
    worker = worker_for(subscriptions, deliveries, sender, clock, concurrency=2)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: deliveries.claims_started == 2, "both lanes claim")
        worker.stop()
        deliveries.gate.set()
        assert await finishes(task, BOUND), "a lane kept running after stop"
        assert task.result() is None
        assert (delivery["status"], len(sender.calls)) == (DELIVERED, 1)
        assert deliveries.claims_started == 2, "a lane claimed again after stop"
    finally:
        task.cancel()
        await finishes(task, BOUND)


async def test_stop_mid_send_settles_the_attempt_before_returning(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, clock = InMemoryDeliveries(), Clock()
    delivery = await planned(deliveries, clock)
    sending, answer = asyncio.Event(), asyncio.Event()

    class GatedSender:
        async def send(
            self, *, url: str, secret: str, message_id: str, body: str, also: object = ()
        ) -> str | None:
            sending.set()
            await answer.wait()
            return None

    worker = worker_for(subscriptions, deliveries, GatedSender(), clock, concurrency=2)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(BOUND):
            await sending.wait()
        worker.stop()
        answer.set()
        assert await finishes(task, BOUND)
        assert task.result() is None
        assert delivery["status"] == DELIVERED, "the attempt was abandoned in flight"
    finally:
        task.cancel()
        await finishes(task, BOUND)


async def test_stop_wakes_idle_lanes_from_their_pause(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries = GatedDeliveries()
    deliveries.gate.set()
    worker = worker_for(
        subscriptions, deliveries, ScriptedSender(), Clock(), poll_seconds=3600, concurrency=4
    )
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: deliveries.claims_started == 4, "every lane finds nothing due")
        worker.stop()
        assert await finishes(task, BOUND), "a lane slept out its poll interval after stop"
        assert task.result() is None
    finally:
        task.cancel()
        await finishes(task, BOUND)


async def test_an_outage_while_stopping_is_logged_and_the_lane_returns(
    subscriptions: InMemorySubscriptions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="credreg_notifier.workers")
    deliveries = GatedDeliveries()
    deliveries.fail_with = StorageUnavailable("the database is unavailable (AutoReconnect)")
    worker = worker_for(subscriptions, deliveries, ScriptedSender(), Clock(), poll_seconds=3600)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: deliveries.claims_started == 1, "the lane claims")
        worker.stop()
        deliveries.gate.set()
        assert await finishes(task, BOUND)
        assert task.result() is None
        assert "database unavailable; deliveries wait" in caplog.messages
    finally:
        task.cancel()
        await finishes(task, BOUND)


class FlakyDeliveries(InMemoryDeliveries):
    """The database is away for the first `outages` claims."""

    def __init__(self, outages: int) -> None:
        super().__init__()
        self.outages = outages

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        if self.outages:
            self.outages -= 1
            raise StorageUnavailable("the database is unavailable (ServerSelectionTimeoutError)")
        return await super().claim_due(now=now, lease_until=lease_until, lease_token=lease_token)


async def test_an_outage_is_logged_and_the_worker_goes_on(
    subscriptions: InMemorySubscriptions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="credreg_notifier.workers")
    deliveries, sender, clock = FlakyDeliveries(outages=3), ScriptedSender(), Clock()
    delivery = await planned(deliveries, clock)
    worker = worker_for(subscriptions, deliveries, sender, clock)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: delivery["status"] == DELIVERED, "delivered after the outage")
        assert not task.done()
        assert caplog.messages.count("database unavailable; deliveries wait") == 3
    finally:
        worker.stop()
        assert await finishes(task, BOUND)
    assert task.result() is None


async def test_any_other_error_ends_the_worker(subscriptions: InMemorySubscriptions) -> None:
    deliveries = GatedDeliveries()
    deliveries.fail_with = RuntimeError("a bug")
    deliveries.gate.set()
    worker = worker_for(subscriptions, deliveries, ScriptedSender(), Clock(), concurrency=2)
    task = asyncio.create_task(worker.run())
    try:
        assert await finishes(task, BOUND)
        with pytest.raises(ExceptionGroup) as raised:
            task.result()
        assert raised.group_contains(RuntimeError, match="a bug")
    finally:
        task.cancel()
        await finishes(task, BOUND)


# Hand-off from this process's consumer


class NoSweeps(InMemoryDeliveries):
    """Counts looks for due work and finds none: only hand-offs get delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.sweeps = 0

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        self.sweeps += 1
        return None


async def test_a_handed_over_delivery_is_claimed_by_id_without_a_look_for_due_work(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock, handoff = NoSweeps(), ScriptedSender(), Clock(), InProcessHandoff()
    worker = worker_for(
        subscriptions, deliveries, sender, clock, poll_seconds=3600, handoff=handoff
    )
    task = asyncio.create_task(worker.run())
    try:
        delivery = await planned(deliveries, clock)
        handoff.offer(delivery["_id"])
        await until(lambda: delivery["status"] == DELIVERED, "the handed-over delivery is sent")
        assert [call["message_id"] for call in sender.calls] == [delivery["_id"]]
        assert deliveries.sweeps == 0, "a lane looked for due work instead of taking the hand-off"
        handoff.offer(delivery["_id"])  # a stale hand-off: no longer due, nothing sent
        await until(lambda: handoff.queue.empty(), "the stale hand-off is taken")
        worker.stop()
        assert await finishes(task, BOUND), "a lane waiting for a hand-off ignored stop"
        assert len(sender.calls) == 1
    finally:
        task.cancel()
        await finishes(task, BOUND)


class CountedClaims(NoSweeps):
    """Counts claims by id as well: a delivery born claimed needs none."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    async def claim(
        self, delivery_id: str, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        self.claims += 1
        return await super().claim(
            delivery_id, now=now, lease_until=lease_until, lease_token=lease_token
        )


async def born_claimed(deliveries: InMemoryDeliveries, clock: Clock) -> Document:
    """One delivery to ``sub`` planned in flight on a 30 s lease; the stored document."""
    delivery = new_delivery("sub", revoked(), clock(), Lease.new(clock(), timedelta(seconds=30)))
    assert await deliveries.add_once(delivery)
    return deliveries.documents[delivery["_id"]]


async def test_a_delivery_born_claimed_is_sent_on_its_own_lease_without_a_claim(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock, handoff = (
        CountedClaims(),
        ScriptedSender(),
        Clock(),
        InProcessHandoff(),
    )
    worker = worker_for(
        subscriptions, deliveries, sender, clock, poll_seconds=3600, handoff=handoff
    )
    task = asyncio.create_task(worker.run())
    try:
        delivery = await born_claimed(deliveries, clock)
        handoff.offer(delivery["_id"], dict(delivery))
        await until(lambda: delivery["status"] == DELIVERED, "the born-claimed one is sent")
        assert [call["message_id"] for call in sender.calls] == [delivery["_id"]]
        assert deliveries.claims == 0, "a delivery born claimed was claimed again"
        assert delivery["attempts"] == 1
    finally:
        worker.stop()
        assert await finishes(task, BOUND)


async def test_a_born_claim_too_short_for_an_attempt_waits_for_its_lease_to_end(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = CountedClaims(), ScriptedSender(), Clock()
    worker = worker_for(subscriptions, deliveries, sender, clock)
    delivery = await born_claimed(deliveries, clock)
    clock.advance(29)  # 1 s of lease left: less than an attempt may take (lease / 2 here)
    assert not await worker.deliver_one(delivery["_id"], claimed=dict(delivery))
    assert sender.calls == [] and deliveries.claims == 1, "sent on a lease about to end"
    clock.advance(2)  # the lease is over: any lane may claim it now
    assert await worker.deliver_one(delivery["_id"], claimed=dict(delivery))
    assert [call["message_id"] for call in sender.calls] == [delivery["_id"]]
    assert delivery["status"] == DELIVERED and delivery["attempts"] == 2


async def test_with_nothing_handed_over_idle_lanes_still_find_due_work(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = InMemoryDeliveries(), ScriptedSender(), Clock()
    delivery = await planned(deliveries, clock)  # planned elsewhere: never handed over here
    worker = worker_for(
        subscriptions, deliveries, sender, clock, poll_seconds=0.01, handoff=InProcessHandoff()
    )
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: delivery["status"] == DELIVERED, "the due delivery is found")
    finally:
        worker.stop()
        assert await finishes(task, BOUND)
