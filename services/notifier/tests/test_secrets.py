"""Webhook secrets at rest and in rotation: sealed under the key-encryption key, opened only for
their own subscription; a rotated-out secret signs beside the new one for the overlap window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from credreg_notifier.adapters.fakes import (
    InMemoryDeliveries,
    InMemoryOwnerQuotas,
    InMemorySubscriptions,
    RecordedOutcomes,
    ScriptedSender,
    StaticWebhookTargets,
)
from credreg_notifier.adapters.secrets import SealedSecrets
from credreg_notifier.adapters.webhooks import signed_headers
from credreg_notifier.domain import (
    PENDING,
    RetrySchedule,
    SubscriptionNotFound,
    SubscriptionRequest,
)
from credreg_notifier.use_cases import Limits, Subscriptions
from credreg_notifier.workers import DeliveryWorker
from credreg_shared.callers import Caller
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALICE = Caller(holder_id="alice")
BODY = '{"type":"t","timestamp":"2026-11-29T12:00:00Z","data":{}}'


class Setup:
    def __init__(self) -> None:
        self.now = T0
        self.vault = SealedSecrets(
            KeyEncryptionKeyring.from_string(f"k1:{KeyEncryptionKeyring.generate_kek()}")
        )
        self.subscriptions = InMemorySubscriptions()
        self.deliveries = InMemoryDeliveries()
        self.sender = ScriptedSender()
        self.use_case = Subscriptions(
            subscriptions=self.subscriptions,
            deliveries=self.deliveries,
            targets=StaticWebhookTargets(allow_private=False),
            quotas=InMemoryOwnerQuotas(),
            vault=self.vault,
            limits=Limits(secret_overlap=timedelta(hours=1)),
            clock=lambda: self.now,
        )
        self.worker = DeliveryWorker(
            deliveries=self.deliveries,
            subscriptions=self.subscriptions,
            sender=self.sender,
            outcomes=RecordedOutcomes(),
            schedule=RetrySchedule(max_attempts=3, base_seconds=1, max_seconds=1),
            lease=timedelta(seconds=30),
            vault=self.vault,
            clock=lambda: self.now,
        )

    async def deliver(self, subscription_id: str, n: int) -> dict[str, str]:
        await self.deliveries.add_once(
            {
                "_id": f"msg_{n}",
                "subscription_id": subscription_id,
                "event_id": f"e-{n}",
                "type": "t",
                "body": BODY,
                "status": PENDING,
                "attempts": 0,
                "last_error": None,
                "next_attempt_at": self.now,
                "created_at": self.now,
            }
        )
        assert await self.worker.deliver_one()
        return self.sender.calls[-1]


@pytest.fixture
def setup() -> Setup:
    return Setup()


async def test_a_secret_is_sealed_at_rest_and_signs_in_the_clear(setup: Setup) -> None:
    made = await setup.use_case.subscribe(
        SubscriptionRequest(holder_id="alice", url="https://93.184.215.14/h"), ALICE
    )
    stored = setup.subscriptions.documents[made["id"]]["secret"]
    assert stored.startswith("sealed:") and made["secret"] not in stored
    call = await setup.deliver(made["id"], 1)
    assert call["secret"] == made["secret"]
    assert "also" not in call


async def test_a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends(
    setup: Setup,
) -> None:
    made = await setup.use_case.subscribe(
        SubscriptionRequest(holder_id="alice", url="https://93.184.215.14/h"), ALICE
    )
    with pytest.raises(SubscriptionNotFound):
        await setup.use_case.rotate_secret(made["id"], Caller(holder_id="bob"))
    rotated = await setup.use_case.rotate_secret(made["id"], ALICE)
    assert rotated["secret"] != made["secret"]
    assert rotated["previous_valid_until"] == T0 + timedelta(hours=1)
    during = await setup.deliver(made["id"], 1)
    assert (during["secret"], during["also"]) == (rotated["secret"], made["secret"])
    setup.now = T0 + timedelta(hours=1)
    after = await setup.deliver(made["id"], 2)
    assert after["secret"] == rotated["secret"] and "also" not in after


def test_a_notice_signed_by_two_secrets_verifies_with_either() -> None:
    old, new = "whsec_" + "A" * 44, "whsec_" + "B" * 44
    headers = signed_headers(new, "msg_1", BODY, datetime.now(UTC), also=[old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, headers) is not None


def test_a_sealed_secret_opens_only_for_its_own_subscription() -> None:
    vault = SealedSecrets(
        KeyEncryptionKeyring.from_string(f"k1:{KeyEncryptionKeyring.generate_kek()}")
    )
    sealed = vault.seal("sub-1", "whsec_x")
    assert vault.open("sub-1", sealed) == "whsec_x"
    with pytest.raises(ValueError, match="failed authentication"):
        vault.open("sub-2", sealed)
    assert vault.open("sub-3", "whsec_stored_before_sealing") == "whsec_stored_before_sealing"
