"""Planning deliveries from events and the worker's state machine, over in-memory fakes."""

from datetime import UTC, datetime, timedelta

import pytest

from credreg_notifier.adapters.memory import InMemoryDeliveries, InMemorySubscriptions
from credreg_notifier.deliveries import (
    DEAD,
    DELIVERED,
    IN_FLIGHT,
    PENDING,
    RetrySchedule,
    Settlement,
)
from credreg_notifier.planner import DeliveryPlanner
from credreg_notifier.worker import DeliveryWorker
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging import HandlerRegistry

HOLDER, OTHER_HOLDER = "did:key:holder-1", "did:key:holder-2"
CREDENTIAL = "urn:uuid:c-1"
SECRET = "whsec_" + "A" * 44


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ScriptedSender:
    """Answers with the scripted errors first (None = 2xx), then success; records each call."""

    def __init__(self, *outcomes: str | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[dict[str, str]] = []

    async def send(self, *, url: str, secret: str, message_id: str, body: str) -> str | None:
        self.calls.append({"url": url, "secret": secret, "message_id": message_id, "body": body})
        return self.outcomes.pop(0) if self.outcomes else None


def revoked(credential_id: str = CREDENTIAL, holder_id: str = HOLDER) -> Envelope:
    return samples.sample_envelope(
        models.CredentialRevoked(
            credential_id=credential_id,
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=holder_id,
            reason="issued in error",
        )
    )


@pytest.fixture
async def subscriptions() -> InMemorySubscriptions:
    store = InMemorySubscriptions()
    clock = Clock()
    for sid, target in [
        ("by-holder", {"holder_id": HOLDER, "credential_id": None}),
        ("by-credential", {"holder_id": None, "credential_id": CREDENTIAL}),
        ("unrelated", {"holder_id": OTHER_HOLDER, "credential_id": None}),
    ]:
        await store.add(
            {"_id": sid, **target, "url": f"https://w.example/{sid}", "secret": SECRET}
            | {"created_at": clock()}
        )
    return store


def worker_for(
    subscriptions: InMemorySubscriptions,
    deliveries: InMemoryDeliveries,
    sender: ScriptedSender,
    clock: Clock,
    max_attempts: int = 4,
) -> DeliveryWorker:
    return DeliveryWorker(
        deliveries=deliveries,
        subscriptions=subscriptions,
        sender=sender,
        schedule=RetrySchedule(max_attempts=max_attempts, base_seconds=1, max_seconds=60),
        lease=timedelta(seconds=30),
        clock=clock,
    )


async def plan(
    subscriptions: InMemorySubscriptions, deliveries: InMemoryDeliveries, envelope: Envelope
) -> None:
    planner = DeliveryPlanner(subscriptions=subscriptions, deliveries=deliveries, clock=Clock())
    await planner.on_credential_event(envelope)


async def test_an_event_plans_one_delivery_per_matching_subscription_once(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries = InMemoryDeliveries()
    envelope = revoked()
    await plan(subscriptions, deliveries, envelope)
    await plan(subscriptions, deliveries, envelope)  # Kafka redelivers it
    planned = deliveries.documents.values()
    assert sorted(d["subscription_id"] for d in planned) == ["by-credential", "by-holder"]
    assert {d["event_id"] for d in planned} == {envelope.id}


def test_lifecycle_notices_are_handled_and_issuance_is_not() -> None:
    planner = DeliveryPlanner(
        subscriptions=InMemorySubscriptions(), deliveries=InMemoryDeliveries()
    )
    registry = planner.register(HandlerRegistry())
    assert models.CredentialRevoked.event_type in registry.event_types
    assert models.CredentialExpiring.event_type in registry.event_types
    assert models.CredentialIssued.event_type not in registry.event_types


async def test_a_2xx_answer_delivers_on_the_first_attempt(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = InMemoryDeliveries(), ScriptedSender(), Clock()
    await plan(subscriptions, deliveries, revoked(holder_id=OTHER_HOLDER, credential_id="c-9"))
    worker = worker_for(subscriptions, deliveries, sender, clock)
    assert await worker.deliver_one() is True
    assert await worker.deliver_one() is False
    [delivery] = deliveries.documents.values()
    assert (delivery["status"], delivery["attempts"]) == (DELIVERED, 1)
    assert sender.calls[0]["message_id"] == delivery["_id"]
    assert sender.calls[0]["url"] == "https://w.example/unrelated"
    assert sender.calls[0]["body"] == delivery["body"]


async def test_failures_wait_their_backoff_and_retry_under_the_same_webhook_id(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, clock = InMemoryDeliveries(), Clock()
    sender = ScriptedSender("HTTP 500", "ConnectError: refused")
    await plan(subscriptions, deliveries, revoked(holder_id=OTHER_HOLDER, credential_id="c-9"))
    worker = worker_for(subscriptions, deliveries, sender, clock)

    assert await worker.deliver_one() is True
    [delivery] = deliveries.documents.values()
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
    await plan(subscriptions, deliveries, revoked(holder_id=OTHER_HOLDER, credential_id="c-9"))
    worker = worker_for(subscriptions, deliveries, sender, clock, max_attempts=3)
    for _ in range(10):
        await worker.deliver_one()
        clock.advance(3600)
    [delivery] = deliveries.documents.values()
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        DEAD,
        3,
        "HTTP 503",
    )
    assert len(sender.calls) == 3


async def test_a_deleted_subscription_turns_its_delivery_dead_without_sending(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender = InMemoryDeliveries(), ScriptedSender()
    await plan(subscriptions, deliveries, revoked(holder_id=OTHER_HOLDER, credential_id="c-9"))
    await subscriptions.remove("unrelated")
    await worker_for(subscriptions, deliveries, sender, Clock()).deliver_one()
    [delivery] = deliveries.documents.values()
    assert (delivery["status"], delivery["last_error"]) == (DEAD, "subscription deleted")
    assert sender.calls == []


async def test_a_crashed_workers_lease_expires_and_its_late_outcome_is_ignored(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, sender, clock = InMemoryDeliveries(), ScriptedSender(), Clock()
    await plan(subscriptions, deliveries, revoked(holder_id=OTHER_HOLDER, credential_id="c-9"))
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
    await plan(subscriptions, deliveries, revoked(holder_id=OTHER_HOLDER, credential_id="c-9"))
    [delivery] = deliveries.documents.values()
    delivery.update(attempts=3, last_error="HTTP 502")  # three workers died mid-attempt
    outcomes: list[str] = []
    worker = worker_for(subscriptions, deliveries, sender, clock, max_attempts=3)
    worker.on_outcome = outcomes.append
    assert await worker.deliver_one() is True
    assert (delivery["status"], delivery["last_error"]) == (DEAD, "HTTP 502")
    assert sender.calls == []
    assert outcomes == [DEAD]


async def test_each_recorded_outcome_is_reported(subscriptions: InMemorySubscriptions) -> None:
    deliveries, clock = InMemoryDeliveries(), Clock()
    await plan(subscriptions, deliveries, revoked(holder_id=OTHER_HOLDER, credential_id="c-9"))
    outcomes: list[str] = []
    worker = worker_for(subscriptions, deliveries, ScriptedSender("HTTP 500"), clock)
    worker.on_outcome = outcomes.append
    await worker.deliver_one()
    clock.advance(60)
    await worker.deliver_one()
    assert outcomes == [PENDING, DELIVERED]
