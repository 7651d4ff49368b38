"""Data Integrity `DataIntegrityProof`: add and verify proofs with the EdDSA cryptosuites."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .canonicalization import CanonicalizationError
from .cryptosuites import CRYPTOSUITES, EDDSA_RDFC_2022, Cryptosuite, hash_data
from .dids import KeyResolutionError, ResolvedKey, resolve_verification_method
from .keys import Ed25519KeyPair, verify_ed25519
from .multibase import MultibaseError, decode_base58btc, encode_base58btc

DATA_INTEGRITY_PROOF = "DataIntegrityProof"
_XSD_DATETIME = re.compile(r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?\Z")


class ProofError(ValueError):
    """Raised when a proof cannot be created from the given inputs."""


@dataclass(frozen=True, slots=True)
class ProofVerification:
    """The outcome of verifying one proof: never a bare bool, always a reason."""

    verified: bool
    reason: str
    cryptosuite: str | None = None
    verification_method: str | None = None
    controller: str | None = None


def format_datetime(moment: datetime) -> str:
    """Format an aware datetime as an XML Schema dateTime in UTC, to the second."""
    if moment.tzinfo is None:
        raise ProofError("datetimes must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unsecured(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "proof"}


def _proof_config(
    suite: Cryptosuite, proof_options: Mapping[str, Any], unsecured: Mapping[str, Any]
) -> dict[str, Any]:
    config = {key: value for key, value in proof_options.items() if key != "proofValue"}
    if "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    return config


def create_proof(
    document: Mapping[str, Any],
    *,
    key_pair: Ed25519KeyPair,
    verification_method: str,
    cryptosuite: str = EDDSA_RDFC_2022,
    created: datetime | None = None,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """Return a `DataIntegrityProof` over `document` (any existing `proof` is left out)."""
    suite = CRYPTOSUITES.get(cryptosuite)
    if suite is None:
        raise ProofError(f"unknown cryptosuite {cryptosuite!r}")
    unsecured = _unsecured(document)
    proof: dict[str, Any] = {
        "type": DATA_INTEGRITY_PROOF,
        "cryptosuite": suite.name,
        "created": format_datetime(created or datetime.now(UTC)),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    config = _proof_config(suite, proof, unsecured)
    signature = key_pair.sign(hash_data(suite, proof_config=config, document=unsecured))
    if suite.proof_carries_context:
        proof = config
    proof["proofValue"] = encode_base58btc(signature)
    return proof


def add_proof(
    document: Mapping[str, Any],
    *,
    key_pair: Ed25519KeyPair,
    verification_method: str,
    cryptosuite: str = EDDSA_RDFC_2022,
    created: datetime | None = None,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """Return a copy of `document` secured with one proof, as a `proof` array (OB 3.0 schema)."""
    proof = create_proof(
        document,
        key_pair=key_pair,
        verification_method=verification_method,
        cryptosuite=cryptosuite,
        created=created,
        proof_purpose=proof_purpose,
    )
    return {**_unsecured(document), "proof": [proof]}


def proofs_of(document: Mapping[str, Any]) -> list[Any]:
    """Return the document's proofs as a list (a single proof object counts as one)."""
    proof = document.get("proof")
    if proof is None:
        return []
    return list(proof) if isinstance(proof, list) else [proof]


def _check_proof_shape(proof: Any) -> str | None:
    if not isinstance(proof, Mapping):
        return "proof is not an object"
    if proof.get("type") != DATA_INTEGRITY_PROOF:
        return f"unsupported proof type {proof.get('type')!r}"
    if proof.get("cryptosuite") not in CRYPTOSUITES:
        return f"unknown cryptosuite {proof.get('cryptosuite')!r}"
    if not isinstance(proof.get("proofValue"), str):
        return "proofValue is missing or not a string"
    created = proof.get("created")
    if created is not None and not (isinstance(created, str) and _XSD_DATETIME.match(created)):
        return "created is not an XML Schema dateTime"
    if not isinstance(proof.get("proofPurpose"), str):
        return "proofPurpose is missing"
    return None


def _previous_proofs(proof: Mapping[str, Any], all_proofs: Sequence[Any]) -> list[Any] | str:
    wanted = proof.get("previousProof")
    if wanted is None:
        return []
    ids = wanted if isinstance(wanted, list) else [wanted]
    found = [p for p in all_proofs if isinstance(p, Mapping) and p.get("id") in ids]
    if len(found) != len(ids):
        return "previousProof refers to a proof that is not in the document"
    return found


def verify_proof(
    document: Mapping[str, Any],
    proof: Any,
    *,
    expected_purpose: str = "assertionMethod",
    controller_documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> ProofVerification:
    """Verify one proof of a secured document; never raises for bad input."""
    problem = _check_proof_shape(proof)
    if problem is not None:
        return ProofVerification(False, problem)
    suite = CRYPTOSUITES[proof["cryptosuite"]]
    method = proof.get("verificationMethod")
    if proof["proofPurpose"] != expected_purpose:
        return ProofVerification(
            False,
            f"proofPurpose is {proof['proofPurpose']!r}, expected {expected_purpose!r}",
            suite.name,
            method if isinstance(method, str) else None,
        )
    try:
        key: ResolvedKey = resolve_verification_method(
            method, purpose=expected_purpose, documents=controller_documents
        )
    except KeyResolutionError as error:
        return ProofVerification(False, f"key not resolved: {error}", suite.name)
    try:
        signature = decode_base58btc(proof["proofValue"])
    except MultibaseError as error:
        return ProofVerification(
            False, f"malformed proofValue: {error}", suite.name, key.verification_method
        )
    if len(signature) != 64:
        return ProofVerification(
            False,
            f"malformed proofValue: {len(signature)} bytes, expected 64",
            suite.name,
            key.verification_method,
        )
    unsecured = _unsecured(document)
    previous = _previous_proofs(proof, proofs_of(document))
    if isinstance(previous, str):
        return ProofVerification(False, previous, suite.name, key.verification_method)
    if previous:
        unsecured["proof"] = previous
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in options:
        # The proof's contexts must be a prefix of the document's, and then stand in for them.
        proof_context = options["@context"]
        document_context = unsecured.get("@context")
        proof_list = proof_context if isinstance(proof_context, list) else [proof_context]
        document_list = (
            document_context if isinstance(document_context, list) else [document_context]
        )
        if document_list[: len(proof_list)] != proof_list:
            return ProofVerification(
                False,
                "proof @context is not a prefix of the document @context",
                suite.name,
                key.verification_method,
            )
        unsecured["@context"] = proof_context
    try:
        config = _proof_config(suite, options, unsecured)
        data = hash_data(suite, proof_config=config, document=unsecured)
    except CanonicalizationError as error:
        return ProofVerification(
            False, f"cannot canonicalize: {error}", suite.name, key.verification_method
        )
    if not verify_ed25519(key.public_key, signature, data):
        return ProofVerification(
            False,
            "signature does not match the document and key",
            suite.name,
            key.verification_method,
            key.controller,
        )
    return ProofVerification(
        True, "signature valid", suite.name, key.verification_method, key.controller
    )


def verify_proofs(
    document: Any,
    *,
    expected_purpose: str = "assertionMethod",
    controller_documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[ProofVerification]:
    """Verify every proof of a secured document; an empty list means it has none."""
    if not isinstance(document, Mapping):
        return [ProofVerification(False, "document is not a JSON object")]
    return [
        verify_proof(
            document,
            proof,
            expected_purpose=expected_purpose,
            controller_documents=controller_documents,
        )
        for proof in proofs_of(document)
    ]
