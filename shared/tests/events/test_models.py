"""Event models: registry, topics, keys and validation rules."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from credreg_shared.events import topics
from credreg_shared.events.models import (
    EVENT_MODELS,
    ApiKeyEvent,
    CredentialEvent,
    CredentialIssued,
    EventData,
    IssuanceRequested,
    IssuanceResult,
    PathwayDefined,
)
from credreg_shared.events.samples import credential_issued, every_event_kind


def test_registry_holds_every_event_type_once() -> None:
    expected = {
        topics.CREDENTIAL_ISSUED_V1,
        topics.CREDENTIAL_REVOKED_V1,
        topics.CREDENTIAL_SUSPENDED_V1,
        topics.CREDENTIAL_REINSTATED_V1,
        topics.CREDENTIAL_EXPIRED_V1,
        topics.CREDENTIAL_EXPIRING_V1,
        topics.PATHWAY_DEFINED_V1,
        topics.PATHWAY_COMPLETED_V1,
        topics.API_KEY_ISSUED_V1,
        topics.API_KEY_REVOKED_V1,
        topics.ISSUANCE_REQUESTED_V1,
        topics.ISSUANCE_RESULT_V1,
    }
    assert set(EVENT_MODELS) == expected
    assert {type(d) for d in every_event_kind()} == set(EVENT_MODELS.values())


@pytest.mark.parametrize("data", every_event_kind(), ids=lambda d: type(d).__name__)
def test_credential_events_go_to_the_credentials_topic_keyed_by_credential(
    data: EventData,
) -> None:
    if isinstance(data, CredentialEvent):
        assert data.topic == topics.CREDENTIALS_TOPIC
        assert data.record_key() == data.credential_id == data.event_subject()
    elif isinstance(data, ApiKeyEvent):
        assert data.topic == topics.INSTITUTIONS_TOPIC
        assert data.record_key() == data.institution_id == data.event_subject()
    elif isinstance(data, IssuanceRequested | IssuanceResult):
        # Requests go to the institution's own topic under this prefix; answers to one topic.
        assert data.topic in {topics.ISSUANCE_REQUESTS_TOPIC, topics.ISSUANCE_RESULTS_TOPIC}
        assert data.record_key() == data.request_id == data.event_subject()
    else:
        assert data.topic == topics.PATHWAYS_TOPIC
    assert data.event_type.startswith("org.credreg.")
    assert data.event_type.endswith(".v1")


def test_models_are_frozen() -> None:
    data = credential_issued()
    with pytest.raises(ValidationError):
        data.holder_id = "someone else"  # type: ignore[misc]


def test_issued_refuses_validity_that_ends_before_it_starts() -> None:
    data = credential_issued()
    with pytest.raises(ValidationError, match="valid_until"):
        CredentialIssued.model_validate(
            data.model_dump() | {"valid_until": data.valid_from - timedelta(days=1)}
        )


def test_issued_refuses_naive_datetimes_and_empty_ids() -> None:
    base: dict[str, Any] = credential_issued().model_dump()
    with pytest.raises(ValidationError):
        CredentialIssued.model_validate(base | {"valid_from": "2026-01-01T00:00:00"})
    with pytest.raises(ValidationError):
        CredentialIssued.model_validate(base | {"credential_id": ""})


def test_pathway_requires_at_least_one_achievement() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        PathwayDefined(pathway_id="p", issuer_id="i", name="n", required_achievement_ids=())


def test_dlq_topic_name() -> None:
    assert topics.dlq_topic(topics.CREDENTIALS_TOPIC) == "credreg.credentials.dlq"
