"""Delivery ids, the notice body, the retry schedule and the state after each attempt."""

import json
from datetime import UTC, datetime, timedelta

from credreg_notifier.deliveries import (
    DEAD,
    DELIVERED,
    PENDING,
    RetrySchedule,
    Settlement,
    delivery_id,
    new_delivery,
    notice_body,
    settle,
)
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule(max_attempts=4, base_seconds=2, max_seconds=10)


def revoked_envelope() -> Envelope:
    return samples.sample_envelope(
        models.CredentialRevoked(
            credential_id="urn:uuid:c-1",
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=samples.SAMPLE_HOLDER,
            reason="issued in error",
        )
    )


def test_delivery_id_is_stable_per_subscription_and_event() -> None:
    assert delivery_id("s", "e") == delivery_id("s", "e")
    assert len({delivery_id("s", "e"), delivery_id("s", "f"), delivery_id("t", "e")}) == 3
    assert delivery_id("s", "e").startswith("msg_")


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    delays = [SCHEDULE.delay(n).total_seconds() for n in range(1, 7)]
    assert delays == [2, 4, 8, 10, 10, 10]
    assert SCHEDULE.delay(10_000) == timedelta(seconds=10)


def test_the_notice_body_carries_type_time_and_event_data() -> None:
    envelope = revoked_envelope()
    body = json.loads(notice_body(envelope))
    assert body["type"] == models.CredentialRevoked.event_type
    assert body["timestamp"].endswith("Z")
    assert body["data"]["credential_id"] == "urn:uuid:c-1"
    assert body["data"]["reason"] == "issued in error"


def test_a_new_delivery_is_pending_now_under_its_deterministic_id() -> None:
    envelope = revoked_envelope()
    delivery = new_delivery("sub-1", envelope, NOW)
    assert delivery["_id"] == delivery_id("sub-1", envelope.id)
    assert (delivery["status"], delivery["attempts"], delivery["next_attempt_at"]) == (
        PENDING,
        0,
        NOW,
    )


def test_a_2xx_answer_delivers() -> None:
    assert settle(1, None, SCHEDULE, NOW) == Settlement(DELIVERED)


def test_a_failure_before_the_last_attempt_waits_the_backoff() -> None:
    assert settle(1, "HTTP 500", SCHEDULE, NOW) == Settlement(
        PENDING, "HTTP 500", NOW + timedelta(seconds=2)
    )
    assert settle(3, "HTTP 503", SCHEDULE, NOW).next_attempt_at == NOW + timedelta(seconds=8)


def test_the_last_failed_attempt_is_a_dead_letter_with_a_bounded_error() -> None:
    outcome = settle(4, "x" * 10_000, SCHEDULE, NOW)
    assert outcome.status == DEAD
    assert outcome.next_attempt_at is None
    assert outcome.last_error is not None and len(outcome.last_error) == 500
