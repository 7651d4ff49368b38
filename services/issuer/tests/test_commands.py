"""Validation of the issue command at the edge: what is refused and what is normalised."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from credreg_shared.issuance import IssueCredential

from .fixtures import body


def with_achievement(**changes: Any) -> Any:
    payload = body()
    payload["achievement"] = {**payload["achievement"], **changes}
    return payload


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (body(holder="did:"), "holder_id"),
        (body(holder="did:example:"), "holder_id"),
        (body(holder="ada\nlovelace"), "holder_id"),
        (body(holder="x" * 501), "holder_id"),
        (with_achievement(name=""), "name"),
        (with_achievement(competencies=[]), "competencies"),
        (with_achievement(competencies=[{"code": "X"}]), "name"),
        (with_achievement(competencies=[{"name": "A", "framework_url": "ftp://x"}]), "framework"),
        (with_achievement(hours=0), "hours"),
        (with_achievement(hours=12.345), "hours"),
        (with_achievement(delivery_mode="by post"), "delivery_mode"),
        (with_achievement(achievement_type="Sticker"), "achievement_type"),
        (with_achievement(colour="blue"), "colour"),
        (body(valid_from="2026-01-01T00:00:00"), "valid_from"),
        (body(valid_from="yesterday"), "valid_from"),
        (
            body(valid_from="2027-01-01T00:00:00Z", valid_until="2026-12-31T00:00:00Z"),
            "valid_until must be after valid_from",
        ),
    ],
)
def test_invalid_commands_are_refused(payload: Any, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        IssueCredential.model_validate(payload)


def test_a_past_valid_until_parses_the_issuer_checks_it_after_the_key_lookup() -> None:
    # `IssueCredentials` refuses it for a new credential only (tests/test_validity_window.py).
    command = IssueCredential.model_validate(body(valid_until="2001-01-01T00:00:00Z"))
    assert command.valid_until is not None and command.valid_from is None


def test_defaults_and_normalisation() -> None:
    command = IssueCredential.model_validate(
        {
            "holder_id": "  student-4711 ",
            "achievement": {
                "name": "CPR",
                "competencies": [{"name": "Adult CPR"}],
                "delivery_mode": "in_person",
                "achievement_type": "ext:FirstAidCard",
            },
            "valid_from": "2026-01-01T00:00:00+02:00",
            "valid_until": "2028-01-01T00:00:00Z",
        }
    )
    assert command.holder_id == "student-4711"
    assert not command.holder_is_did
    assert command.achievement.credential_delivery_mode == "in-person"
    assert command.achievement.achievement_type == "ext:FirstAidCard"
    assert IssueCredential.model_validate(body()).achievement.achievement_type == "MicroCredential"


def test_the_digest_tells_requests_apart() -> None:
    first = IssueCredential.model_validate(body())
    assert first.digest() == IssueCredential.model_validate(body()).digest()
    assert first.digest() != IssueCredential.model_validate(body(name="Other")).digest()
