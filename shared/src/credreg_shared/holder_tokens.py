"""Holder tokens: short-lived EdDSA JSON Web Tokens scoped to one holder.

The registry mints them, after a DID authentication or on the word of an institution that
issued to the holder; every service that serves a holder checks them with the public half of
the key (``CREDREG_HOLDER_TOKEN_PUBLIC_KEYS``), so no service but the registry holds a secret.
Several public keys are accepted at once, so that a new key can be rolled in before the old
one's last tokens expire.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credreg_shared.credentials.keys import (
    Ed25519KeyPair,
    KeyFormatError,
    decode_public_multikey,
)

AUDIENCE = "urn:credreg:holder"
TOKEN_TYPE = "credreg-holder+jwt"  # noqa: S105 - a JWT "typ", not a secret
DEFAULT_LIFETIME = timedelta(minutes=15)
ALGORITHM = "EdDSA"


class InvalidHolderToken(Exception):
    """The token is malformed, not ours, expired, or not for this use."""


@dataclass(frozen=True)
class HolderToken:
    """What a valid token says: whose portfolio, until when, and on whose word."""

    holder_id: str
    expires_at: datetime
    authenticated_by: str
    """``did`` (the holder proved control of its DID) or the institution that vouched."""


class HolderTokenMinter:
    """Mints holder tokens with the registry's private key."""

    def __init__(
        self,
        key: Ed25519KeyPair,
        *,
        lifetime: timedelta = DEFAULT_LIFETIME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.key = key
        self.lifetime = lifetime
        self.clock = clock

    def mint(self, holder_id: str, *, authenticated_by: str) -> tuple[str, datetime]:
        """A token for `holder_id` and when it expires."""
        now = self.clock().replace(microsecond=0)
        expires_at = now + self.lifetime
        claims = {
            "sub": holder_id,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": str(uuid.uuid4()),
            "amr": authenticated_by,
        }
        headers = {"kid": self.key.public_multikey, "typ": TOKEN_TYPE}
        token = jwt.encode(claims, self.key.private_key, algorithm=ALGORITHM, headers=headers)
        return token, expires_at


class HolderTokenVerifier:
    """Checks holder tokens against the accepted public keys (by key id)."""

    def __init__(
        self,
        public_keys: Sequence[str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.keys: dict[str, Ed25519PublicKey] = {}
        for multikey in public_keys:
            try:
                raw = decode_public_multikey(multikey)
            except KeyFormatError as error:
                raise ValueError(f"holder token public key {multikey!r}: {error}") from None
            self.keys[multikey] = Ed25519PublicKey.from_public_bytes(raw)
        self.clock = clock

    def check(self, token: str) -> HolderToken:
        """The token's holder, or `InvalidHolderToken` saying why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidHolderToken("not a holder token") from None
        key = self.keys.get(str(header.get("kid")))
        if key is None or header.get("typ") != TOKEN_TYPE or header.get("alg") != ALGORITHM:
            raise InvalidHolderToken("not a holder token of this deployment")
        try:
            # Expiry is checked below against the injected clock, not PyJWT's own.
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"verify_exp": False, "require": ["sub", "exp", "iat", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidHolderToken(f"invalid holder token ({type(error).__name__})") from None
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        if expires_at <= self.clock():
            raise InvalidHolderToken("the holder token has expired")
        return HolderToken(
            holder_id=str(claims["sub"]),
            expires_at=expires_at,
            authenticated_by=str(claims.get("amr", "")),
        )


def verifier_from(
    secret_key: str | None,
    public_keys: Sequence[str],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> HolderTokenVerifier:
    """The verifier of a deployment's settings: the listed public keys, else the signing key's."""
    keys = list(public_keys)
    if not keys and secret_key:
        keys = [Ed25519KeyPair.from_secret_multikey(secret_key).public_multikey]
    return HolderTokenVerifier(keys, clock=clock)
