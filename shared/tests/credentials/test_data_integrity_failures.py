"""Verification fails, with a specific reason and no exception, when it should."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime

import pytest

from credreg_shared.credentials.cryptosuites import CRYPTOSUITES, hash_data
from credreg_shared.credentials.data_integrity import (
    ProofError,
    add_proof,
    create_proof,
    verify_proofs,
)
from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.multibase import encode_base58btc

SUITES = ["eddsa-rdfc-2022", "eddsa-jcs-2022"]


@pytest.fixture(scope="module")
def key_pair() -> Ed25519KeyPair:
    return Ed25519KeyPair.generate()


def _signed(vectors, key_pair, suite):
    did = did_key_for(key_pair.public_key_bytes)
    return add_proof(
        vectors.json("unsigned.json"),
        key_pair=key_pair,
        verification_method=f"{did}#{key_pair.public_multikey}",
        cryptosuite=suite,
        created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def _only(document):
    results = verify_proofs(document)
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize("suite", SUITES)
def test_a_fresh_signature_verifies(vectors, key_pair, suite):
    result = _only(_signed(vectors, key_pair, suite))
    assert result.verified, result.reason
    assert result.cryptosuite == suite


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("name",), "Forged Credential"),
        (("validFrom",), "2020-01-01T00:00:00Z"),
        (("credentialSubject", "alumniOf"), "Another School"),
        (("credentialSubject", "id"), "did:example:mallory"),
        (("issuer",), "https://vc.example/issuers/9999"),
    ],
)
def test_changing_a_signed_field_fails(vectors, key_pair, suite, path, value):
    document = copy.deepcopy(_signed(vectors, key_pair, suite))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    result = _only(document)
    assert not result.verified
    assert result.reason == "signature does not match the document and key"


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("field", ["created", "proofPurpose", "verificationMethod"])
def test_changing_a_proof_option_fails(vectors, key_pair, suite, field):
    document = copy.deepcopy(_signed(vectors, key_pair, suite))
    other = Ed25519KeyPair.generate()
    replacement = {
        "created": "2026-01-02T03:04:06Z",
        "proofPurpose": "authentication",
        "verificationMethod": f"{did_key_for(other.public_key_bytes)}#{other.public_multikey}",
    }[field]
    document["proof"][0][field] = replacement
    result = verify_proofs(document, expected_purpose=document["proof"][0]["proofPurpose"])[0]
    assert not result.verified
    assert "signature does not match" in result.reason


@pytest.mark.parametrize("suite", SUITES)
def test_wrong_key_fails(vectors, key_pair, suite):
    impostor = Ed25519KeyPair.generate()
    did = did_key_for(key_pair.public_key_bytes)
    # Signed by the impostor, but claims the genuine issuer's key.
    document = add_proof(
        vectors.json("unsigned.json"),
        key_pair=impostor,
        verification_method=f"{did}#{key_pair.public_multikey}",
        cryptosuite=suite,
    )
    result = _only(document)
    assert not result.verified
    assert result.reason == "signature does not match the document and key"


def test_jcs_is_sensitive_to_fields_that_rdf_would_ignore(vectors, key_pair):
    document = copy.deepcopy(_signed(vectors, key_pair, "eddsa-jcs-2022"))
    document["credentialSubject"]["undefinedTerm"] = "sneaked in"
    assert not _only(document).verified


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        ({"cryptosuite": "eddsa-2099"}, "unknown cryptosuite 'eddsa-2099'"),
        ({"type": "Ed25519Signature2020"}, "unsupported proof type 'Ed25519Signature2020'"),
        ({"proofValue": "not-multibase"}, "malformed proofValue"),
        ({"proofValue": "z0OIl"}, "malformed proofValue"),
        ({"proofValue": encode_base58btc(b"short")}, "malformed proofValue: 5 bytes"),
        ({"proofValue": 42}, "proofValue is missing or not a string"),
        ({"created": "yesterday"}, "created is not an XML Schema dateTime"),
        ({"verificationMethod": "did:web:unknown.example#key-1"}, "key not resolved"),
        ({"verificationMethod": "did:key:zNotAKey"}, "key not resolved"),
        ({"verificationMethod": None}, "key not resolved"),
    ],
)
def test_malformed_proofs_fail_with_a_specific_reason(vectors, key_pair, mutation, reason):
    document = copy.deepcopy(_signed(vectors, key_pair, "eddsa-rdfc-2022"))
    document["proof"][0].update(mutation)
    result = _only(document)
    assert not result.verified
    assert result.reason.startswith(reason), result.reason


def test_unknown_context_fails_without_fetching(vectors, key_pair):
    document = copy.deepcopy(_signed(vectors, key_pair, "eddsa-rdfc-2022"))
    document["@context"] = [*document["@context"], "https://attacker.example/context.jsonld"]
    result = _only(document)
    assert not result.verified
    assert "refusing to load unknown JSON-LD document" in result.reason


@pytest.mark.parametrize("document", [None, [], "text", {"proof": "nope"}, {"proof": [None]}])
def test_garbage_never_raises(document):
    results = verify_proofs(document)
    assert all(not result.verified for result in results)


def test_unknown_cryptosuite_cannot_sign(vectors, key_pair):
    with pytest.raises(ProofError):
        create_proof(
            vectors.json("unsigned.json"),
            key_pair=key_pair,
            verification_method="did:key:z6Mk#z6Mk",
            cryptosuite="eddsa-2099",
        )


@pytest.mark.parametrize("suite", SUITES)
def test_the_remembered_proof_configuration_hash_follows_every_field(vectors, suite):
    # Proof configurations are hashed once per content (a batch shares one): any field that
    # changes must change the hash, exactly as canonicalizing it afresh does.
    chosen = CRYPTOSUITES[suite]
    document = vectors.json("unsigned.json")
    base = {
        "type": "DataIntegrityProof",
        "cryptosuite": suite,
        "created": "2026-01-02T03:04:05Z",
        "verificationMethod": "did:example:issuer#key-1",
        "proofPurpose": "assertionMethod",
        "@context": list(document["@context"]),
    }
    variants = [base] + [
        {**base, name: value}
        for name, value in [
            ("created", "2026-01-02T03:04:06Z"),
            ("verificationMethod", "did:example:issuer#key-2"),
            ("proofPurpose", "authentication"),
            ("@context", [*document["@context"], "https://w3id.org/security/data-integrity/v2"]),
        ]
    ]
    seen = set()
    for _ in range(2):  # the second round answers from memory
        for config in variants:
            signed = hash_data(chosen, proof_config=config, document=document)
            assert signed[:32] == hashlib.sha256(chosen.canonicalize(config)).digest()
            seen.add(signed[:32])
    # A context that adds no term the configuration uses leaves its RDF (rdfc's hash) alone.
    assert len(seen) == (len(variants) if suite == "eddsa-jcs-2022" else len(variants) - 1)
