"""A chunk's credentials are built and signed in one call, sharing what they can."""

from __future__ import annotations

from datetime import UTC, datetime

from credreg_issuer.domain import CredentialSigner, prepare_issuances, prepare_records
from credreg_shared.credentials.cryptosuites import EDDSA_JCS_2022
from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.events import models
from credreg_shared.events.cloudevents import from_record, to_record

from .fixtures import command


def test_each_credential_of_a_chunk_carries_its_own_achievement() -> None:
    key = Ed25519KeyPair.generate()
    issuer = did_key_for(key.public_key_bytes)
    names = ["Data Literacy", "Cloud Security", "Data Literacy", "Cloud Security"]
    work = [
        (
            command(holder=f"did:example:{n}", name=name),
            f"urn:uuid:{n:08d}-0000-4000-8000-000000000000",
            None,
        )
        for n, name in enumerate(names)
    ]
    signer = CredentialSigner({issuer: key}, cryptosuite=EDDSA_JCS_2022)
    envelopes = prepare_issuances(work, issuer, "urn:test", signer)
    issued = [e.data_as(models.CredentialIssued) for e in envelopes]
    achievements = [i.credential["credentialSubject"]["achievement"] for i in issued]
    assert [a["name"] for a in achievements] == names
    assert [i.achievement_name for i in issued] == names
    assert achievements[0] == achievements[2] != achievements[1] == achievements[3]
    assert len({i.achievement_id for i in issued}) == 2
    assert [i.achievement_id for i in issued] == [a["id"] for a in achievements]
    for event in issued:
        report = verify_credential(event.credential)
        assert report.check("proof").outcome is Outcome.PASSED, report.checks


def test_the_records_a_signing_process_returns_are_its_events_as_published() -> None:
    key = Ed25519KeyPair.generate()
    issuer = did_key_for(key.public_key_bytes)
    work = [
        (command(holder=f"did:example:{n}"), f"urn:uuid:{n:08d}-0000-4000-8000-000000000000", None)
        for n in range(3)
    ]
    signer = CredentialSigner({issuer: key}, cryptosuite=EDDSA_JCS_2022)
    now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    records = prepare_records(work, issuer, "urn:test", signer, now)
    envelopes = prepare_issuances(work, issuer, "urn:test", signer, now)
    assert records == [to_record(envelope) for envelope in envelopes]
    decoded = [from_record(r.key, r.value, r.headers) for r in records]
    assert [e.data_as(models.CredentialIssued).credential_id for e in decoded] == [
        credential_id for _, credential_id, _ in work
    ]
