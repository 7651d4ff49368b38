"""The lifecycle rules every view applies."""

import pytest

from credreg_shared.events import models, samples
from credreg_shared.events.lifecycle import next_status

IDS = {"credential_id": "urn:uuid:1", "issuer_id": samples.SAMPLE_ISSUER, "holder_id": "h"}


@pytest.mark.parametrize(
    ("current", "event", "expected"),
    [
        (None, models.CredentialRevoked(reason="r", **IDS), "revoked"),
        ("active", models.CredentialSuspended(**IDS), "suspended"),
        ("suspended", models.CredentialReinstated(**IDS), "active"),
        ("active", models.CredentialReinstated(**IDS), None),
        ("revoked", models.CredentialReinstated(**IDS), None),
        ("revoked", models.CredentialSuspended(**IDS), None),
        ("expired", models.CredentialSuspended(**IDS), None),
        ("suspended", models.CredentialRevoked(reason="r", **IDS), "revoked"),
        ("active", models.CredentialExpiring(valid_until="2030-01-01T00:00:00Z", **IDS), None),
    ],
)
def test_next_status(current: str | None, event: models.EventData, expected: str | None) -> None:
    assert next_status(current, event) == expected
