"""Planning deliveries from lifecycle events, over in-memory fakes."""

from datetime import UTC, datetime

import pytest

from credreg_notifier.adapters.fakes import InMemoryDeliveries, InMemorySubscriptions
from credreg_notifier.domain import PENDING, delivery_id
from credreg_notifier.projection import DeliveryPlanner
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging.handlers import HandlerRegistry

HOLDER, OTHER_HOLDER = "did:key:holder-1", "did:key:holder-2"
CREDENTIAL = "urn:uuid:c-1"
SECRET = "whsec_" + "A" * 44
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


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
    for sid, target in [
        ("by-holder", {"holder_id": HOLDER, "credential_id": None}),
        ("by-credential", {"holder_id": None, "credential_id": CREDENTIAL}),
        ("unrelated", {"holder_id": OTHER_HOLDER, "credential_id": None}),
    ]:
        await store.add(
            {"_id": sid, **target, "url": f"https://w.example/{sid}", "secret": SECRET}
            | {"created_at": NOW}
        )
    return store


def planner_over(
    subscriptions: InMemorySubscriptions, deliveries: InMemoryDeliveries
) -> DeliveryPlanner:
    return DeliveryPlanner(subscriptions=subscriptions, deliveries=deliveries, clock=lambda: NOW)


async def test_an_event_plans_one_delivery_per_matching_subscription_once(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries = InMemoryDeliveries()
    envelope = revoked()
    planner = planner_over(subscriptions, deliveries)
    await planner.on_credential_event(envelope)
    await planner.on_credential_event(envelope)  # Kafka redelivers it
    planned = deliveries.documents.values()
    assert sorted(d["subscription_id"] for d in planned) == ["by-credential", "by-holder"]
    assert {d["event_id"] for d in planned} == {envelope.id}
    assert {d["_id"] for d in planned} == {
        delivery_id("by-credential", envelope.id),
        delivery_id("by-holder", envelope.id),
    }
    assert {(d["status"], d["next_attempt_at"]) for d in planned} == {(PENDING, NOW)}


async def test_an_event_nobody_subscribed_to_plans_nothing(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries = InMemoryDeliveries()
    await planner_over(subscriptions, deliveries).on_credential_event(
        revoked(credential_id="urn:uuid:other", holder_id="did:key:nobody")
    )
    assert deliveries.documents == {}


def test_lifecycle_notices_are_handled_and_issuance_is_not() -> None:
    planner = planner_over(InMemorySubscriptions(), InMemoryDeliveries())
    registry = planner.register(HandlerRegistry())
    assert models.CredentialRevoked.event_type in registry.event_types
    assert models.CredentialExpiring.event_type in registry.event_types
    assert models.CredentialIssued.event_type not in registry.event_types
    assert registry.handlers_for(models.CredentialRevoked.event_type) == (
        planner.on_credential_event,
    )
