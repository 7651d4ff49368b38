"""Bitstring Status List: encoding, entries, allocation and status checks with spec error codes."""

from __future__ import annotations

import base64
import gzip
import random
from datetime import UTC, datetime, timedelta

import pytest

from credreg_shared.credentials.bitstring import (
    MIN_STATUS_LIST_LENGTH,
    Bitstring,
    BitstringDecodeError,
)
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.index_allocator import RandomIndexAllocator, StatusListFullError
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.status_list import (
    StatusErrorType,
    build_status_list_credential,
    check_status,
    status_list_entry,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LIST_URL = "https://registrar.example.edu/status/1"


def test_empty_list_encodes_exactly_as_the_spec_examples(vectors):
    published = vectors.json("status-list/example-03-bitstring-status-list-credential.json")
    assert Bitstring().encode() == published["credentialSubject"]["encodedList"]


def test_spec_encoded_list_decodes_to_131072_clear_bits(vectors):
    published = vectors.json("status-list/example-05-status-list-credential.json")
    bits = Bitstring.decode(published["credentialSubject"]["encodedList"])
    assert len(bits) == MIN_STATUS_LIST_LENGTH
    assert bits.set_indices() == []


def test_index_zero_is_the_leftmost_bit():
    bits = Bitstring()
    bits.set(0, True)
    bits.set(9, True)
    encoded = bits.encode()
    assert encoded.startswith("u") and "=" not in encoded
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert raw[0] == 0b1000_0000 and raw[1] == 0b0100_0000


def test_round_trip_with_one_percent_set():
    rng = random.Random(4)
    indices = sorted(rng.sample(range(MIN_STATUS_LIST_LENGTH), MIN_STATUS_LIST_LENGTH // 100))
    bits = Bitstring()
    for index in indices:
        bits.set(index, True)
    decoded = Bitstring.decode(bits.encode())
    assert decoded.set_indices() == indices
    decoded.set(indices[0], False)
    assert not decoded.get(indices[0])


@pytest.mark.parametrize("value", ["", "zH4sI", "u!!!", "uAAAA", "u" + "A" * 10])
def test_malformed_encoded_lists_are_rejected(value):
    with pytest.raises(BitstringDecodeError):
        Bitstring.decode(value)


def test_out_of_range_access_raises():
    with pytest.raises(IndexError):
        Bitstring().get(MIN_STATUS_LIST_LENGTH)


def test_allocator_never_repeats_and_fills_the_list():
    allocator = RandomIndexAllocator(length=4096, used=[0, 1, 2])
    drawn = [allocator.allocate() for _ in range(4093)]
    assert len(set(drawn)) == 4093
    assert set(drawn) | {0, 1, 2} == set(range(4096))
    with pytest.raises(StatusListFullError):
        allocator.allocate()


def test_allocator_is_not_sequential():
    allocator = RandomIndexAllocator()
    drawn = [allocator.allocate() for _ in range(50)]
    assert drawn != sorted(drawn)


def test_entries_name_their_purpose_and_list():
    entry = status_list_entry(status_list_credential=LIST_URL, index=94567, purpose="suspension")
    assert entry == {
        "id": f"{LIST_URL}#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "suspension",
        "statusListIndex": "94567",
        "statusListCredential": LIST_URL,
    }


@pytest.fixture(scope="module")
def issuer_key() -> Ed25519KeyPair:
    return Ed25519KeyPair.generate()


def _issuer(key: Ed25519KeyPair) -> tuple[str, str]:
    did = did_key_for(key.public_key_bytes)
    return did, f"{did}#{key.public_multikey}"


def _signed_list(key, purpose, set_indices=(), length=MIN_STATUS_LIST_LENGTH, **kwargs):
    did, method = _issuer(key)
    bits = Bitstring(length)
    for index in set_indices:
        bits.set(index, True)
    fields = {
        "url": LIST_URL,
        "issuer": did,
        "purpose": purpose,
        "bitstring": bits,
        "valid_from": NOW - timedelta(days=1),
    }
    fields.update(kwargs)
    unsigned = build_status_list_credential(**fields)
    return add_proof(unsigned, key_pair=key, verification_method=method)


def _credential(key, index, purpose="revocation"):
    did, _ = _issuer(key)
    return {
        "issuer": did,
        "credentialStatus": [
            status_list_entry(status_list_credential=LIST_URL, index=index, purpose=purpose)
        ],
    }


def test_status_list_credential_carries_ttl_and_verifies(issuer_key):
    signed = _signed_list(issuer_key, "revocation", ttl=timedelta(seconds=30))
    assert signed["credentialSubject"]["ttl"] == 30_000
    [result] = check_status(
        _credential(issuer_key, 7), status_list_credentials={LIST_URL: signed}, now=NOW
    )
    assert result.error is None and result.is_set is False


def test_a_set_bit_is_reported(issuer_key):
    signed = _signed_list(issuer_key, "revocation", set_indices=[7])
    [result] = check_status(
        _credential(issuer_key, 7), status_list_credentials={LIST_URL: signed}, now=NOW
    )
    assert result.is_set is True


def _error(key, credential, lists):
    [result] = check_status(credential, status_list_credentials=lists, now=NOW)
    return result.error


def test_missing_list_is_a_retrieval_error(issuer_key):
    assert _error(issuer_key, _credential(issuer_key, 1), {}) is (
        StatusErrorType.STATUS_RETRIEVAL_ERROR
    )


def test_short_list_is_a_length_error(issuer_key):
    # build_status_list_credential refuses short lists, so forge one by hand and sign it.
    signed = _signed_list(issuer_key, "revocation")
    short = dict(signed)
    did, method = _issuer(issuer_key)
    short["credentialSubject"] = {
        **signed["credentialSubject"],
        "encodedList": Bitstring(8).encode(),
    }
    short = add_proof(short, key_pair=issuer_key, verification_method=method)
    error = _error(issuer_key, _credential(issuer_key, 1), {LIST_URL: short})
    assert error is StatusErrorType.STATUS_LIST_LENGTH_ERROR


def test_index_beyond_the_list_is_a_range_error(issuer_key):
    signed = _signed_list(issuer_key, "revocation")
    credential = _credential(issuer_key, MIN_STATUS_LIST_LENGTH)
    assert _error(issuer_key, credential, {LIST_URL: signed}) is StatusErrorType.RANGE_ERROR


def test_tampered_list_is_a_verification_error(issuer_key):
    signed = _signed_list(issuer_key, "revocation", set_indices=[7])
    forged = {**signed, "credentialSubject": {**signed["credentialSubject"]}}
    forged["credentialSubject"]["encodedList"] = Bitstring().encode()
    credential = _credential(issuer_key, 7)
    assert _error(issuer_key, credential, {LIST_URL: forged}) is (
        StatusErrorType.STATUS_VERIFICATION_ERROR
    )


def test_list_from_another_issuer_is_a_verification_error(issuer_key):
    signed = _signed_list(Ed25519KeyPair.generate(), "revocation")
    assert _error(issuer_key, _credential(issuer_key, 1), {LIST_URL: signed}) is (
        StatusErrorType.STATUS_VERIFICATION_ERROR
    )


def test_purpose_mismatch_is_a_verification_error(issuer_key):
    signed = _signed_list(issuer_key, "suspension")
    assert _error(issuer_key, _credential(issuer_key, 1), {LIST_URL: signed}) is (
        StatusErrorType.STATUS_VERIFICATION_ERROR
    )


def test_expired_list_is_a_verification_error(issuer_key):
    signed = _signed_list(
        issuer_key, "revocation", valid_from=NOW - timedelta(days=9), valid_until=NOW - timedelta(1)
    )
    assert _error(issuer_key, _credential(issuer_key, 1), {LIST_URL: signed}) is (
        StatusErrorType.STATUS_VERIFICATION_ERROR
    )


@pytest.mark.parametrize("index", ["-1", "1e3", "", " 7", None])
def test_malformed_index_is_a_malformed_value_error(issuer_key, index):
    signed = _signed_list(issuer_key, "revocation")
    credential = _credential(issuer_key, 1)
    credential["credentialStatus"][0]["statusListIndex"] = index
    assert _error(issuer_key, credential, {LIST_URL: signed}) is (
        StatusErrorType.MALFORMED_VALUE_ERROR
    )


def test_spec_examples_check_out(vectors):
    credential = vectors.json("status-list/example-04-revocable-credential.eddsa-rdfc-2022.json")
    status_list = vectors.json("status-list/example-05-status-list-credential.eddsa-rdfc-2022.json")
    [result] = check_status(
        credential, status_list_credentials={status_list["id"]: status_list}, now=NOW
    )
    assert (result.error, result.index, result.is_set) == (None, 94567, False)


def test_error_types_have_the_spec_urls():
    assert StatusErrorType.RANGE_ERROR.type_url == (
        "https://www.w3.org/ns/credentials/status-list#RANGE_ERROR"
    )
