"""Planning deliveries from lifecycle events, over in-memory fakes."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from credreg_notifier.adapters.fakes import InMemoryDeliveries, InMemorySubscriptions
from credreg_notifier.adapters.handoff import InProcessHandoff
from credreg_notifier.domain import IN_FLIGHT, PENDING, delivery_id
from credreg_notifier.projection import DeliveryPlanner
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging.handlers import ConsumedEvent, HandlerRegistry

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
    for sid, target, owner in [
        ("by-holder", {"holder_id": HOLDER, "credential_id": None}, f"holder:{HOLDER}"),
        ("by-credential", {"holder_id": None, "credential_id": CREDENTIAL}, f"holder:{HOLDER}"),
        ("unrelated", {"holder_id": OTHER_HOLDER, "credential_id": None}, f"holder:{OTHER_HOLDER}"),
        # Owned by another holder, naming this credential: it hears nothing of it.
        ("stranger", {"holder_id": None, "credential_id": CREDENTIAL}, f"holder:{OTHER_HOLDER}"),
        ("other-issuer", {"issuer_id": "did:web:x.example"}, "institution:did:web:x.example"),
        # An institution naming the holder hears of its own credentials only.
        ("foreign-issuer", {"holder_id": HOLDER}, "institution:did:web:x.example"),
    ]:
        await store.add(
            {"_id": sid, **target, "url": f"https://w.example/{sid}", "secret": SECRET}
            | {"created_at": NOW, "owner": owner}
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


async def test_with_lanes_to_hand_to_a_delivery_is_born_claimed_and_goes_along(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, handoff = InMemoryDeliveries(), InProcessHandoff()
    planner = DeliveryPlanner(
        subscriptions=subscriptions,
        deliveries=deliveries,
        handoff=handoff,
        lease=timedelta(seconds=30),
        clock=lambda: NOW,
    )
    envelope = revoked()
    await planner.on_credential_event(envelope)
    await planner.on_credential_event(envelope)  # redelivered: nothing new to hand over
    planned = deliveries.documents
    assert {(d["status"], d["attempts"], d["lease_until"]) for d in planned.values()} == {
        (IN_FLIGHT, 1, NOW + timedelta(seconds=30))
    }
    handed = [await handoff.take(0) for _ in range(3)]
    assert handed[2] is None
    assert {h.delivery_id for h in handed if h} == set(planned)
    for h in handed[:2]:
        assert h is not None and h.claimed == planned[h.delivery_id], "not the stored claim"


async def test_with_the_hand_off_full_a_delivery_is_planned_pending_for_any_lane(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries, handoff = InMemoryDeliveries(), InProcessHandoff(capacity=1)
    handoff.offer("someone-else")
    planner = DeliveryPlanner(
        subscriptions=subscriptions,
        deliveries=deliveries,
        handoff=handoff,
        lease=timedelta(seconds=30),
        clock=lambda: NOW,
    )
    await planner.on_credential_event(revoked())
    assert {(d["status"], d["attempts"]) for d in deliveries.documents.values()} == {
        (PENDING, 0)
    }, "born claimed for lanes that were never handed it: it would wait for the lease"


async def test_an_event_nobody_subscribed_to_plans_nothing(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries = InMemoryDeliveries()
    await planner_over(subscriptions, deliveries).on_credential_event(
        revoked(credential_id="urn:uuid:other", holder_id="did:key:nobody")
    )
    assert deliveries.documents == {}


def consumed(*envelopes: Envelope) -> list[ConsumedEvent]:
    """Envelopes as a fetched batch hands them over (one partition, in order)."""
    return [ConsumedEvent(e, "credreg.credentials", 0, n) for n, e in enumerate(envelopes)]


async def test_lifecycle_notices_are_handled_a_batch_at_a_time_and_issuance_is_not(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries = InMemoryDeliveries()
    learned: list[str] = []

    async def learn(envelope: Envelope) -> None:
        learned.append(envelope.id)

    others = HandlerRegistry()
    others.register(models.ApiKeyIssued, learn)
    registry = planner_over(subscriptions, deliveries).register(HandlerRegistry(), also=others)
    assert models.CredentialRevoked.event_type in registry.event_types
    assert models.CredentialExpiring.event_type in registry.event_types
    assert models.ApiKeyIssued.event_type in registry.event_types
    assert models.CredentialIssued.event_type not in registry.event_types
    assert registry.batch_handler is not None
    first, second = revoked(), revoked("urn:uuid:c-2")
    key = samples.sample_envelope(
        models.ApiKeyIssued(
            institution_id=samples.SAMPLE_ISSUER, key_id="k1", digest="0" * 64, scopes=("read",)
        )
    )
    await registry.batch_handler(consumed(first, key, second))
    assert learned == [key.id], "a per-event handler of `also` ran for its event"
    assert {(d["subscription_id"], d["event_id"]) for d in deliveries.documents.values()} == {
        ("by-credential", first.id),
        ("by-holder", first.id),
        ("by-holder", second.id),
    }


def expiry(kind: type[models.CredentialEvent]) -> Envelope:
    """A `credential.expiring` (30 days ahead) or `credential.expired` notice, with a renewal."""
    extra: dict[str, object] = {"lead_days": 30} if kind is models.CredentialExpiring else {}
    return samples.sample_envelope(
        kind.model_validate(
            {
                "credential_id": "urn:uuid:c-holders-other",
                "issuer_id": samples.SAMPLE_ISSUER,
                "holder_id": HOLDER,
                "valid_until": samples.VALID_UNTIL,
                "renewal": samples.RENEWAL,
                **extra,
            }
        )
    )


async def test_a_holders_subscription_gets_the_expiring_and_the_expired_notice(
    subscriptions: InMemorySubscriptions,
) -> None:
    deliveries = InMemoryDeliveries()
    registry = planner_over(subscriptions, deliveries).register(HandlerRegistry())
    expiring, expired = expiry(models.CredentialExpiring), expiry(models.CredentialExpired)
    assert registry.batch_handler is not None
    await registry.batch_handler(consumed(expiring, expired))  # as the consumer dispatches

    planned = sorted(deliveries.documents.values(), key=lambda d: d["type"])
    assert [(d["subscription_id"], d["type"]) for d in planned] == [
        ("by-holder", models.CredentialExpired.event_type),
        ("by-holder", models.CredentialExpiring.event_type),
    ]
    expired_data, expiring_data = (json.loads(d["body"])["data"] for d in planned)
    renewal = {"url": samples.RENEWAL.url, "text": samples.RENEWAL.text}
    assert expiring_data["valid_until"] == expired_data["valid_until"] == "2028-01-15T09:00:00Z"
    assert (expiring_data["lead_days"], expiring_data["renewal"]) == (30, renewal)
    assert expired_data["renewal"] == renewal


async def test_an_institution_hears_of_its_own_credentials_only(
    subscriptions: InMemorySubscriptions,
) -> None:
    await subscriptions.add(
        {
            "_id": "by-issuer",
            "issuer_id": samples.SAMPLE_ISSUER,
            "owner": f"institution:{samples.SAMPLE_ISSUER}",
            "url": "https://w.example/by-issuer",
            "secret": SECRET,
            "created_at": NOW,
        }
    )
    deliveries = InMemoryDeliveries()
    await planner_over(subscriptions, deliveries).on_credential_event(revoked())
    planned = sorted(d["subscription_id"] for d in deliveries.documents.values())
    # Not "stranger" (another holder's, naming the credential), not "foreign-issuer" (another
    # institution's, naming the holder), not "other-issuer".
    assert planned == ["by-credential", "by-holder", "by-issuer"]
