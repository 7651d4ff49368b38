"""Ed25519 Multikeys, did:key resolution, did:web documents and KEK-sealed private keys."""

from __future__ import annotations

import pytest

from credreg_shared.credentials.dids import (
    KeyResolutionError,
    did_key_for,
    did_web_document,
    did_web_for,
    did_web_url,
    resolve_did_key,
    resolve_verification_method,
)
from credreg_shared.credentials.key_encryption import (
    EncryptedPrivateKey,
    KeyEncryptionError,
    KeyEncryptionKeyring,
)
from credreg_shared.credentials.keys import (
    Ed25519KeyPair,
    KeyFormatError,
    decode_public_multikey,
    verify_ed25519,
)


def test_generated_keys_are_z6mk_multikeys_that_sign():
    key = Ed25519KeyPair.generate()
    assert key.public_multikey.startswith("z6Mk")
    assert key.secret_multikey.startswith("z3u2")
    assert Ed25519KeyPair.from_secret_multikey(key.secret_multikey).seed == key.seed
    assert verify_ed25519(key.public_key_bytes, key.sign(b"data"), b"data")
    assert not verify_ed25519(key.public_key_bytes, key.sign(b"data"), b"other")


@pytest.mark.parametrize("value", ["z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq", "u6Mk", "z"])
def test_public_multikey_rejects_other_codecs(value):
    with pytest.raises(KeyFormatError):
        decode_public_multikey(value)


def test_did_key_resolves_to_a_multikey_document(vectors):
    public = vectors.json("keyPair.json")["publicKeyMultibase"]
    did = f"did:key:{public}"
    document = resolve_did_key(did)
    method = document["verificationMethod"][0]
    assert method == {
        "id": f"{did}#{public}",
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": public,
    }
    assert document["assertionMethod"] == [method["id"]]
    assert did_key_for(decode_public_multikey(public)) == did


def test_did_web_document_and_url():
    key = Ed25519KeyPair.generate()
    did = did_web_for("registrar.example.edu:8443", "issuers", "42")
    assert did == "did:web:registrar.example.edu%3A8443:issuers:42"
    assert did_web_url(did) == "https://registrar.example.edu:8443/issuers/42/did.json"
    assert did_web_url("did:web:example.edu") == "https://example.edu/.well-known/did.json"
    document = did_web_document(did, {"key-2026": key.public_key_bytes})
    resolved = resolve_verification_method(
        f"{did}#key-2026", documents={did: document}, purpose="assertionMethod"
    )
    assert resolved.public_key == key.public_key_bytes
    assert resolved.controller == did


def test_did_web_needs_its_document_and_an_authorized_key():
    key = Ed25519KeyPair.generate()
    did = "did:web:example.edu"
    document = did_web_document(did, {"key-1": key.public_key_bytes})
    with pytest.raises(KeyResolutionError, match="no controller document"):
        resolve_verification_method(f"{did}#key-1")
    with pytest.raises(KeyResolutionError, match="not in its controller document"):
        resolve_verification_method(f"{did}#key-2", documents={did: document})
    with pytest.raises(KeyResolutionError, match="not authorized for capabilityInvocation"):
        resolve_verification_method(
            f"{did}#key-1", documents={did: document}, purpose="capabilityInvocation"
        )


@pytest.fixture
def keyring(monkeypatch) -> KeyEncryptionKeyring:
    new, old = KeyEncryptionKeyring.generate_kek(), KeyEncryptionKeyring.generate_kek()
    monkeypatch.setenv("CREDREG_KEY_ENCRYPTION_KEYS", f"kek-2026:{new},kek-2025:{old}")
    return KeyEncryptionKeyring.from_environment()


def test_sealed_key_round_trips_and_hides_the_seed(keyring):
    key = Ed25519KeyPair.generate()
    sealed = keyring.encrypt("issuer-1/key-1", key)
    assert sealed.kek_id == "kek-2026"
    assert key.seed.hex() not in sealed.model_dump_json()
    assert keyring.decrypt(sealed).seed == key.seed


def test_tampered_or_swapped_sealed_key_fails_authentication(keyring):
    sealed = keyring.encrypt("issuer-1/key-1", Ed25519KeyPair.generate())
    swapped = sealed.model_copy(update={"key_id": "issuer-2/key-1"})
    with pytest.raises(KeyEncryptionError, match="failed authentication"):
        keyring.decrypt(swapped)
    flipped = sealed.ciphertext[:-2] + ("A" if sealed.ciphertext[-2] != "A" else "B") + "A"
    with pytest.raises(KeyEncryptionError):
        keyring.decrypt(sealed.model_copy(update={"ciphertext": flipped}))


def test_kek_rotation_rewraps_under_the_new_key(keyring, monkeypatch):
    old_only = KeyEncryptionKeyring(
        {"kek-2025": keyring._keys["kek-2025"]}, active_kek_id="kek-2025"
    )
    key = Ed25519KeyPair.generate()
    sealed = old_only.encrypt("issuer-1/key-1", key)
    rewrapped = keyring.rewrap(sealed)
    assert rewrapped.kek_id == "kek-2026"
    assert keyring.decrypt(rewrapped).seed == key.seed
    with pytest.raises(KeyEncryptionError, match="unknown KEK"):
        old_only.decrypt(rewrapped)


@pytest.mark.parametrize("value", ["", "nocolon", "k:c2hvcnQ", "a:" + "A" * 43 + ",a:" + "A" * 43])
def test_bad_kek_configuration_is_refused(monkeypatch, value):
    monkeypatch.setenv("CREDREG_KEY_ENCRYPTION_KEYS", value)
    with pytest.raises(KeyEncryptionError):
        KeyEncryptionKeyring.from_environment()


def test_sealed_key_model_is_strict():
    with pytest.raises(ValueError):
        EncryptedPrivateKey(key_id="k", kek_id="x", nonce="n", ciphertext="c", extra="no")
