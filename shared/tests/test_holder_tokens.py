"""Holder tokens: minted by one key, checked with its public half; expired, tampered, foreign
and rotated-out tokens refused; a key rolled in beside the old one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.holder_tokens import (
    AUDIENCE,
    HolderTokenMinter,
    HolderTokenVerifier,
    InvalidHolderToken,
    verifier_from,
)

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HOLDER = "did:key:z6MkholderExample"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_minted_token_names_its_holder_and_how_it_was_won() -> None:
    key, clock = Ed25519KeyPair.generate(), Clock()
    token, expires_at = HolderTokenMinter(key, clock=clock).mint(HOLDER, authenticated_by="did")
    assert expires_at == T0 + timedelta(minutes=15)
    found = HolderTokenVerifier([key.public_multikey], clock=clock).check(token)
    assert (found.holder_id, found.authenticated_by, found.expires_at) == (
        HOLDER,
        "did",
        expires_at,
    )


def test_an_expired_token_is_refused() -> None:
    key, clock = Ed25519KeyPair.generate(), Clock()
    token, expires_at = HolderTokenMinter(key, clock=clock).mint(HOLDER, authenticated_by="did")
    verifier = HolderTokenVerifier([key.public_multikey], clock=clock)
    clock.now = expires_at
    with pytest.raises(InvalidHolderToken, match="expired"):
        verifier.check(token)


def test_tokens_of_another_key_or_tampered_or_foreign_are_refused() -> None:
    ours, theirs = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    verifier = HolderTokenVerifier([ours.public_multikey], clock=Clock())
    foreign, _ = HolderTokenMinter(theirs, clock=Clock()).mint(HOLDER, authenticated_by="did")
    with pytest.raises(InvalidHolderToken):
        verifier.check(foreign)
    token, _ = HolderTokenMinter(ours, clock=Clock()).mint(HOLDER, authenticated_by="did")
    head, payload, signature = token.split(".")
    other, _ = HolderTokenMinter(ours, clock=Clock()).mint(
        "did:key:z6Mkother", authenticated_by="x"
    )
    with pytest.raises(InvalidHolderToken):
        verifier.check(".".join([head, other.split(".")[1], signature]))
    for junk in ("", "not-a-token", "a.b.c"):
        with pytest.raises(InvalidHolderToken):
            verifier.check(junk)
    # A JWT signed with our key but not a holder token (no typ, another audience).
    plain = jwt.encode(
        {"sub": HOLDER, "aud": "other", "iat": 0, "exp": 2**40},
        ours.private_key,
        algorithm="EdDSA",
        headers={"kid": ours.public_multikey},
    )
    with pytest.raises(InvalidHolderToken):
        verifier.check(plain)
    wrong_audience = jwt.encode(
        {"sub": HOLDER, "aud": "other", "iat": 0, "exp": 2**40},
        ours.private_key,
        algorithm="EdDSA",
        headers={"kid": ours.public_multikey, "typ": "credreg-holder+jwt"},
    )
    with pytest.raises(InvalidHolderToken):
        verifier.check(wrong_audience)
    assert AUDIENCE != "other"


def test_a_new_key_rolls_in_beside_the_old_one() -> None:
    old, new = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    old_token, _ = HolderTokenMinter(old, clock=Clock()).mint(HOLDER, authenticated_by="did")
    both = HolderTokenVerifier([new.public_multikey, old.public_multikey], clock=Clock())
    assert both.check(old_token).holder_id == HOLDER
    with pytest.raises(InvalidHolderToken):
        HolderTokenVerifier([new.public_multikey], clock=Clock()).check(old_token)


def test_settings_give_the_signing_keys_public_half_unless_keys_are_listed() -> None:
    key = Ed25519KeyPair.generate()
    token, _ = HolderTokenMinter(key, clock=Clock()).mint(HOLDER, authenticated_by="did")
    assert verifier_from(key.secret_multikey, [], clock=Clock()).check(token).holder_id == HOLDER
    other = Ed25519KeyPair.generate().public_multikey
    with pytest.raises(InvalidHolderToken):
        verifier_from(key.secret_multikey, [other], clock=Clock()).check(token)
    with pytest.raises(ValueError, match="public key"):
        HolderTokenVerifier(["z6Mk-not-a-key"])
