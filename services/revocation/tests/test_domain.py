"""Lifecycle rules of the ownership view and the refusals of status change requests."""

import pytest

from credreg_revocation.domain import (
    REINSTATEMENT,
    REVOCATION,
    SUSPENSION,
    CredentialRecord,
    NotTheIssuer,
    TransitionNotAllowed,
    UnknownCredential,
    owned_record,
    refusal,
    status_after,
)
from credreg_shared.errors import DomainError
from credreg_shared.events import models, samples

OWNER, OTHER = "did:web:uni-a.example", "did:web:uni-b.example"


def event(kind: type[models.CredentialEvent], **extra: object) -> models.CredentialEvent:
    common = {"credential_id": "urn:uuid:c-1", "issuer_id": OWNER, "holder_id": "did:h"}
    return kind.model_validate({**common, **extra})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            event(models.CredentialRevoked, reason="x"),
            ("revoked", {"active", "suspended", "expired"}),
        ),
        (event(models.CredentialSuspended), ("suspended", {"active"})),
        (event(models.CredentialReinstated), ("active", {"suspended"})),
        (
            event(models.CredentialExpired, valid_until=samples.VALID_UNTIL),
            ("expired", {"active", "suspended"}),
        ),
        (event(models.CredentialExpiring, valid_until=samples.VALID_UNTIL), None),
    ],
)
def test_status_after_follows_the_shared_lifecycle(
    data: models.CredentialEvent, expected: tuple[str, set[str]] | None
) -> None:
    change = status_after(data)
    assert (None if change is None else (change[0], set(change[1]))) == expected


def test_requested_transitions() -> None:
    assert (REVOCATION.target, set(REVOCATION.sources)) == ("revoked", {"active", "suspended"})
    assert (SUSPENSION.target, set(SUSPENSION.sources)) == ("suspended", {"active"})
    assert (REINSTATEMENT.target, set(REINSTATEMENT.sources)) == ("active", {"suspended"})


def test_owned_record_refuses_unknown_and_foreign_credentials() -> None:
    record = CredentialRecord("urn:uuid:c-1", OWNER, "did:h", "active")
    assert owned_record(record, "urn:uuid:c-1", OWNER) is record
    with pytest.raises(UnknownCredential):
        owned_record(None, "urn:uuid:c-1", OWNER)
    with pytest.raises(NotTheIssuer):
        owned_record(record, "urn:uuid:c-1", OTHER)


def test_refusal_explains_the_current_status() -> None:
    assert "already revoked" in str(refusal(REVOCATION, "c", "revoked"))
    not_now = refusal(SUSPENSION, "c", "expired")
    assert isinstance(not_now, TransitionNotAllowed)
    assert "is expired; suspension is not possible" in str(not_now)
    assert isinstance(refusal(REVOCATION, "c", None), UnknownCredential)


@pytest.mark.parametrize("kind", [UnknownCredential, NotTheIssuer, TransitionNotAllowed])
def test_refusals_are_domain_errors_that_know_no_http_status(kind: type[Exception]) -> None:
    assert issubclass(kind, DomainError)
    assert not hasattr(kind("x"), "status")
