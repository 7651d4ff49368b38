"""Proofs with an institution's configured key: verifiable, bound to the issuer DID."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from credreg_issuer.adapters.fakes import InMemoryIdempotencyRecords
from credreg_issuer.domain import CredentialSigner, verification_method_for
from credreg_issuer.settings import IssuerSettings
from credreg_issuer.use_cases import IssueCredentials
from credreg_shared.credentials.dids import did_key_for, did_web_document
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.events import models
from credreg_shared.messaging import InMemoryPublisher

from .fixtures import UNI, command

KEY = Ed25519KeyPair.from_seed(bytes(range(32)))
DID_KEY = did_key_for(KEY.public_key_bytes)


async def issued_by(institution: str, settings: IssuerSettings) -> models.CredentialIssued:
    publisher = InMemoryPublisher()
    use_case = IssueCredentials(
        publisher=publisher,
        records=InMemoryIdempotencyRecords(),
        signer=CredentialSigner(
            settings.signing_key_pairs(), cryptosuite=settings.signing_cryptosuite
        ),
        topic="t",
        source="urn:credreg:issuer",
    )
    envelope = await use_case.handle(command(), institution=institution)
    return envelope.data_as(models.CredentialIssued)


def outcomes(credential: dict[str, Any], **documents: dict[str, Any]) -> dict[str, Outcome]:
    report = verify_credential(credential, controller_documents=documents or None)
    return {check.name: check.outcome for check in report.checks}


async def test_a_did_key_institution_issues_credentials_that_verify_offline() -> None:
    settings = IssuerSettings(signing_keys={DID_KEY: KEY.secret_multikey})
    credential = (await issued_by(DID_KEY, settings)).credential
    [proof] = credential["proof"]
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["verificationMethod"] == f"{DID_KEY}#{KEY.public_multikey}"
    checks = outcomes(credential)
    assert checks["proof"] == checks["issuer"] == checks["schema"] == Outcome.PASSED


async def test_a_did_web_institution_signs_with_a_method_of_its_did_document() -> None:
    settings = IssuerSettings(
        signing_keys={UNI: KEY.secret_multikey}, signing_cryptosuite="eddsa-rdfc-2022"
    )
    credential = (await issued_by(UNI, settings)).credential
    document = did_web_document(UNI, {KEY.public_multikey: KEY.public_key_bytes})
    checks = outcomes(credential, **{UNI: document})
    assert checks["proof"] == checks["issuer"] == Outcome.PASSED
    credential["name"] = "Tampered"
    assert outcomes(credential, **{UNI: document})["proof"] == Outcome.FAILED


async def test_an_institution_without_a_key_issues_unsigned_credentials() -> None:
    settings = IssuerSettings(signing_keys={DID_KEY: KEY.secret_multikey})
    assert "proof" not in (await issued_by(UNI, settings)).credential


def test_a_non_did_institution_gets_a_did_key_method() -> None:
    assert verification_method_for("uni-a", KEY) == f"{DID_KEY}#{KEY.public_multikey}"


def test_a_malformed_signing_key_fails_at_start_up_without_echoing_it() -> None:
    with pytest.raises(ValidationError, match="not an Ed25519 secretKeyMultibase") as refused:
        IssuerSettings(signing_keys={UNI: "z-not-a-key-sekrit"})
    assert "sekrit" not in str(refused.value)
