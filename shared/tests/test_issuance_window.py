"""The validity window: ordered when parsed (time-free), checked against "now" apart (finding 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credreg_shared.issuance import (
    IssuanceError,
    IssueCredential,
    validate_command,
    window_errors,
)

pytestmark = pytest.mark.timeout(10)

BODY = {
    "holder_id": "did:example:ada",
    "achievement": {"name": "Data Literacy", "competencies": [{"name": "Read charts"}]},
}
UNTIL = datetime(2025, 1, 7, 9, tzinfo=UTC)
MESSAGE = "Value error, valid_until must be after valid_from (default: now)"


def test_a_valid_until_in_the_past_parses_the_same_at_any_time() -> None:
    # A retry of a request whose window has passed since is the same command, same digest.
    command = IssueCredential.model_validate({**BODY, "valid_until": UNTIL.isoformat()})
    again = validate_command({**BODY, "valid_until": UNTIL.isoformat()})

    assert command.valid_until == UNTIL
    assert isinstance(again, IssueCredential) and again.digest() == command.digest()


def test_the_window_is_open_until_valid_until_without_valid_from() -> None:
    command = IssueCredential.model_validate({**BODY, "valid_until": UNTIL.isoformat()})

    assert window_errors(command, now=UNTIL - timedelta(seconds=1)) == []
    assert window_errors(command, now=UNTIL) == [IssuanceError(field="", message=MESSAGE)]
    assert window_errors(command, now=UNTIL + timedelta(days=1), prefix="credential") == [
        IssuanceError(field="credential", message=MESSAGE)
    ]


EXPLICIT = {"valid_from": (UNTIL - timedelta(30)).isoformat(), "valid_until": UNTIL.isoformat()}


@pytest.mark.parametrize("window", [{}, EXPLICIT], ids=["no-valid-until", "explicit-valid-from"])
def test_no_now_check_without_valid_until_or_with_an_explicit_valid_from(
    window: dict[str, str],
) -> None:
    command = IssueCredential.model_validate({**BODY, **window})

    assert window_errors(command, now=UNTIL + timedelta(days=365)) == []


def test_an_unordered_window_is_still_refused_when_parsed_with_the_same_message() -> None:
    refused = validate_command(
        {**BODY, "valid_from": UNTIL.isoformat(), "valid_until": UNTIL.isoformat()},
        prefix="credential",
    )

    assert refused == [IssuanceError(field="credential", message=MESSAGE)]
