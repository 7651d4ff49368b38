"""Both EdDSA cryptosuites reproduce the official W3C and 1EdTech vectors byte for byte."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from credreg_shared.credentials.canonicalization import canonicalize_jcs, canonicalize_rdf
from credreg_shared.credentials.data_integrity import create_proof, verify_proofs
from credreg_shared.credentials.keys import (
    Ed25519KeyPair,
    decode_public_multikey,
    decode_secret_multikey,
)
from credreg_shared.credentials.multibase import encode_base58btc

SUITES = {
    # suite: (folder, file suffix)
    "eddsa-rdfc-2022": ("eddsa-rdfc-2022", "DataInt"),
    "eddsa-jcs-2022": ("eddsa-jcs-2022", "JCS"),
}


def _canonical(suite: str, document: dict[str, object]) -> str:
    if suite == "eddsa-rdfc-2022":
        return canonicalize_rdf(document)
    return canonicalize_jcs(document).decode("utf-8")


@pytest.mark.parametrize("suite", SUITES)
def test_every_intermediate_value_matches_the_w3c_vector(suite, vectors):
    folder, suffix = SUITES[suite]
    document = vectors.json("unsigned.json")
    proof_config = vectors.json(f"{folder}/proofConfig{suffix}.json")

    canonical_document = _canonical(suite, document)
    canonical_proof = _canonical(suite, proof_config)
    document_hash = hashlib.sha256(canonical_document.encode()).hexdigest()
    proof_hash = hashlib.sha256(canonical_proof.encode()).hexdigest()

    assert canonical_document == vectors.text(f"{folder}/canonDoc{suffix}.txt")
    assert canonical_proof == vectors.text(f"{folder}/proofCanon{suffix}.txt")
    assert document_hash == vectors.text(f"{folder}/docHash{suffix}.txt").strip()
    assert proof_hash == vectors.text(f"{folder}/proofHash{suffix}.txt").strip()
    assert proof_hash + document_hash == vectors.text(f"{folder}/combinedHash{suffix}.txt").strip()


@pytest.mark.parametrize("suite", SUITES)
def test_signing_reproduces_the_signed_vector(suite, vectors):
    folder, suffix = SUITES[suite]
    key_pair = Ed25519KeyPair.from_secret_multikey(
        vectors.json("keyPair.json")["privateKeyMultibase"]
    )
    config = vectors.json(f"{folder}/proofConfig{suffix}.json")
    signed = vectors.json(f"{folder}/signed{suffix}.json")

    proof = create_proof(
        vectors.json("unsigned.json"),
        key_pair=key_pair,
        verification_method=config["verificationMethod"],
        cryptosuite=suite,
        created=datetime.fromisoformat(config["created"]),
    )

    signature_hex = vectors.text(f"{folder}/sigHex{suffix}.txt").strip()
    assert proof["proofValue"] == encode_base58btc(bytes.fromhex(signature_hex))
    assert proof["proofValue"] == vectors.text(f"{folder}/sigBTC58{suffix}.txt").strip()
    assert proof == signed["proof"]


def test_key_pair_vector_round_trips_through_multikey(vectors):
    pair = vectors.json("keyPair.json")
    key_pair = Ed25519KeyPair.from_secret_multikey(pair["privateKeyMultibase"])
    assert key_pair.public_multikey == pair["publicKeyMultibase"]
    assert key_pair.secret_multikey == pair["privateKeyMultibase"]
    assert decode_public_multikey(pair["publicKeyMultibase"]) == key_pair.public_key_bytes
    assert decode_secret_multikey(pair["privateKeyMultibase"]) == key_pair.seed


def test_open_badges_vector_is_reproduced_byte_for_byte(vectors):
    vector = vectors.json("openbadges/ob-eddsa-rdfc-2022-vector.json")
    credential = vector["credential"]
    proof_options = vector["proofBeforeSigning"]
    config = {**proof_options, "@context": credential["@context"]}

    canonical_document = canonicalize_rdf(credential)
    canonical_proof = canonicalize_rdf(config)
    assert canonical_document == vectors.text("openbadges/document-canon.txt")
    assert canonical_proof == vectors.text("openbadges/proof-canon.txt")
    document_hash = hashlib.sha256(canonical_document.encode()).hexdigest()
    proof_hash = hashlib.sha256(canonical_proof.encode()).hexdigest()
    assert document_hash == vector["documentHashHex"]
    assert proof_hash == vector["proofHashHex"]
    assert proof_hash + document_hash == vector["dataToSignHex"]

    key_pair = Ed25519KeyPair.from_seed(bytes.fromhex(vector["keyPair"]["privateKeyHex"])[:32])
    assert key_pair.public_key_bytes.hex() == vector["keyPair"]["publicKeyHex"]
    proof = create_proof(
        credential,
        key_pair=key_pair,
        verification_method=proof_options["verificationMethod"],
        created=datetime.fromisoformat(proof_options["created"]),
    )
    assert (
        bytes.hex(key_pair.sign(bytes.fromhex(vector["dataToSignHex"]))) == vector["signatureHex"]
    )
    assert proof["proofValue"] == vector["proofValue"]
    assert proof == vector["proof"]


@pytest.mark.parametrize(
    "path",
    [
        "eddsa-rdfc-2022/signedDataInt.json",
        "eddsa-jcs-2022/signedJCS.json",
        "proof-set-chain/signedProofSet1.json",
        "proof-set-chain/signedProofSet2.json",
        "proof-set-chain/signedProofChain1.json",
        "proof-set-chain/signedProofChain2.json",
        "status-list/example-04-revocable-credential.eddsa-rdfc-2022.json",
        "status-list/example-05-status-list-credential.eddsa-rdfc-2022.json",
    ],
)
def test_official_signed_documents_verify(path, vectors):
    results = verify_proofs(vectors.json(path))
    assert results, "the vector has proofs"
    assert all(result.verified for result in results), results
