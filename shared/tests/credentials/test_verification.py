"""`verify_credential` explains every check and fails exactly the check that should fail."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from credreg_shared.credentials.bitstring import Bitstring
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.dids import did_web_document
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.status_list import (
    build_status_list_credential,
    status_list_entry,
)
from credreg_shared.credentials.verification import SINGLE_PROOF_WARNING, verify_credential

ISSUER = "did:web:registrar.example.edu"
METHOD = f"{ISSUER}#key-1"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
REVOCATION_LIST = "https://registrar.example.edu/status/revocation/1"
SUSPENSION_LIST = "https://registrar.example.edu/status/suspension/1"


@pytest.fixture(scope="module")
def key() -> Ed25519KeyPair:
    return Ed25519KeyPair.generate()


@pytest.fixture
def world(key):
    """Issuer DID document and signed status lists with index 7 revoked and 9 suspended."""

    def status_list(url, purpose, index):
        bits = Bitstring()
        bits.set(index, True)
        unsigned = build_status_list_credential(
            url=url, issuer=ISSUER, purpose=purpose, bitstring=bits, valid_from=NOW - timedelta(9)
        )
        return add_proof(unsigned, key_pair=key, verification_method=METHOD)

    return {
        "controller_documents": {ISSUER: did_web_document(ISSUER, {"key-1": key.public_key_bytes})},
        "status_list_credentials": {
            REVOCATION_LIST: status_list(REVOCATION_LIST, "revocation", 7),
            SUSPENSION_LIST: status_list(SUSPENSION_LIST, "suspension", 9),
        },
    }


def _issue(
    micro_credential,
    key,
    *,
    revocation_index=1,
    suspension_index=1,
    suite="eddsa-rdfc-2022",
    purposes=("revocation", "suspension"),
    **fields,
):
    lists = {
        "revocation": (REVOCATION_LIST, revocation_index),
        "suspension": (SUSPENSION_LIST, suspension_index),
    }
    entries = [
        status_list_entry(status_list_credential=lists[p][0], index=lists[p][1], purpose=p)
        for p in purposes
    ]
    document = micro_credential(issuer=ISSUER, credential_status=entries, **fields).to_document()
    return add_proof(document, key_pair=key, verification_method=METHOD, cryptosuite=suite)


def _outcomes(report):
    return {check.name: check.outcome for check in report.checks}


@pytest.mark.parametrize("suite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
def test_a_good_credential_passes_every_applicable_check(micro_credential, key, world, suite):
    # One status entry: this OB schema build allows a single credentialStatus object.
    signed = _issue(micro_credential, key, suite=suite, purposes=("revocation",))
    report = verify_credential(signed, now=NOW, **world)
    assert report.verified, report.checks
    assert _outcomes(report) == {
        "proof": Outcome.PASSED,
        "issuer": Outcome.PASSED,
        "validity": Outcome.PASSED,
        "revocation": Outcome.PASSED,
        "suspension": Outcome.NOT_APPLICABLE,
        "schema": Outcome.PASSED,
    }


def test_a_single_proof_object_verifies_with_a_schema_warning(micro_credential, key, world):
    signed = _issue(micro_credential, key, purposes=("revocation",))
    assert isinstance(signed["proof"], list)
    assert verify_credential(signed, now=NOW, **world).check("schema").warnings == []
    # How other libraries sign: `proof` as one object, valid VC 2.0 / Data Integrity.
    single = {**signed, "proof": signed["proof"][0]}
    report = verify_credential(single, now=NOW, **world)
    assert report.verified, report.checks
    assert report.check("proof").outcome is Outcome.PASSED
    assert report.check("schema").outcome is Outcome.PASSED
    assert report.check("schema").warnings == [SINGLE_PROOF_WARNING]


def test_a_single_proof_object_does_not_hide_other_schema_errors(micro_credential, key, world):
    signed = _issue(micro_credential, key, purposes=("revocation",))
    broken = {**signed, "proof": signed["proof"][0], "name": 42}
    check = verify_credential(broken, now=NOW, **world).check("schema")
    assert check.outcome is Outcome.FAILED
    assert any(line.startswith("$.name") for line in check.details)
    assert check.warnings == [SINGLE_PROOF_WARNING]


def test_revoked_credential_fails_only_revocation(micro_credential, key, world):
    report = verify_credential(_issue(micro_credential, key, revocation_index=7), now=NOW, **world)
    assert not report.verified
    assert report.check("revocation").outcome is Outcome.FAILED
    assert report.check("revocation").reason.startswith("revoked")
    assert report.check("suspension").outcome is Outcome.PASSED
    assert report.check("proof").outcome is Outcome.PASSED


def test_suspended_credential_fails_suspension(micro_credential, key, world):
    report = verify_credential(_issue(micro_credential, key, suspension_index=9), now=NOW, **world)
    assert report.check("suspension").outcome is Outcome.FAILED
    assert report.check("revocation").outcome is Outcome.PASSED


def test_expired_and_not_yet_valid_credentials_fail_validity(micro_credential, key, world):
    expiring = _issue(micro_credential, key, valid_until=datetime(2026, 3, 1, tzinfo=UTC))
    report = verify_credential(expiring, now=NOW, **world)
    assert report.check("validity").reason == "expired at 2026-03-01T00:00:00Z"
    early = verify_credential(expiring, now=datetime(2025, 12, 31, tzinfo=UTC), **world)
    assert early.check("validity").outcome is Outcome.FAILED
    assert (
        verify_credential(expiring, now=datetime(2026, 2, 1, tzinfo=UTC), **world)
        .check("validity")
        .outcome
        is Outcome.PASSED
    )


def test_tampered_credential_fails_the_proof(micro_credential, key, world):
    signed = copy.deepcopy(_issue(micro_credential, key))
    signed["credentialSubject"]["achievement"]["learningHours"] = "400"
    report = verify_credential(signed, now=NOW, **world)
    assert report.check("proof").outcome is Outcome.FAILED
    assert report.check("issuer").outcome is Outcome.FAILED


def test_key_of_another_controller_fails_the_issuer_check(micro_credential, key, world):
    other = Ed25519KeyPair.generate()
    document = micro_credential(issuer=ISSUER).to_document()
    signed = add_proof(
        document, key_pair=other, verification_method=f"did:key:{other.public_multikey}"
    )
    report = verify_credential(signed, now=NOW, **world)
    assert report.check("proof").outcome is Outcome.PASSED
    assert report.check("issuer").outcome is Outcome.FAILED
    assert ISSUER in report.check("issuer").reason


def test_unknown_status_list_is_reported_with_its_error_code(micro_credential, key, world):
    world = {**world, "status_list_credentials": {}}
    report = verify_credential(_issue(micro_credential, key), now=NOW, **world)
    assert report.check("revocation").error_code == "STATUS_RETRIEVAL_ERROR"


def test_schema_violations_are_listed(micro_credential, key, world):
    signed = _issue(micro_credential, key)
    del signed["credentialSubject"]["achievement"]["criteria"]
    report = verify_credential(signed, now=NOW, **world)
    assert report.check("schema").outcome is Outcome.FAILED
    assert any("criteria" in line for line in report.check("schema").details)


@pytest.mark.parametrize("credential", [None, 3, "x", [], {}])
def test_garbage_gives_a_failing_report_not_an_exception(credential):
    report = verify_credential(credential, now=NOW)
    assert not report.verified


def test_w3c_example_is_reported_check_by_check(vectors):
    credential = vectors.json("status-list/example-04-revocable-credential.eddsa-rdfc-2022.json")
    status_list = vectors.json("status-list/example-05-status-list-credential.eddsa-rdfc-2022.json")
    report = verify_credential(
        credential, status_list_credentials={status_list["id"]: status_list}, now=NOW
    )
    assert report.check("proof").outcome is Outcome.PASSED
    assert report.check("revocation").outcome is Outcome.PASSED
    # The W3C example signs with a did:key that is not its issuer (did:example:12345).
    assert report.check("issuer").outcome is Outcome.FAILED
    assert report.to_json_dict()["verified"] is False
