"""DID authentication of holders: a single-use challenge, signed by the key of the holder's
DID (did:key, or did:web through its document), answered with a holder token.

The proof is a compact JWS (EdDSA) whose header ``kid`` is a verification method of the DID
listed for ``authentication``, and whose payload is ``{"challenge": …, "aud": AUDIENCE}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credreg_registry.ports import Challenges, DocumentSource
from credreg_shared.credentials.dids import (
    KeyResolutionError,
    did_web_url,
    resolve_verification_method,
)
from credreg_shared.credentials.resolution import FetchRefused
from credreg_shared.errors import DomainError
from credreg_shared.holder_tokens import HolderTokenMinter

AUDIENCE = "urn:credreg:holder-auth"
CHALLENGE_LIFETIME = timedelta(minutes=5)
DID_METHODS = ("did:key:", "did:web:")


class NotADid(DomainError):
    """DID authentication needs a did:key or did:web holder id."""


class AuthenticationFailed(DomainError):
    """The challenge is unknown, used or expired, or the proof does not hold."""


class TokensNotConfigured(DomainError):
    """This registry has no holder-token key (``CREDREG_HOLDER_TOKEN_KEY``)."""


@dataclass(frozen=True)
class IssuedChallenge:
    """What the wallet signs, and until when."""

    challenge: str
    holder_id: str
    expires_at: datetime
    audience: str = AUDIENCE


@dataclass(frozen=True)
class IssuedToken:
    """A holder token and when it expires."""

    token: str
    holder_id: str
    expires_at: datetime


class HolderAuthentication:
    """Challenges holders' DIDs and mints their tokens."""

    def __init__(
        self,
        *,
        challenges: Challenges | None,
        minter: HolderTokenMinter | None,
        documents: DocumentSource | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.challenges = challenges
        self.minter = minter
        self.documents = documents
        self.clock = clock

    async def challenge(self, holder_id: str) -> IssuedChallenge:
        """A new challenge for the holder of `holder_id` (a did:key or did:web)."""
        if not holder_id.startswith(DID_METHODS):
            raise NotADid(
                "DID authentication needs a did:key or did:web; learners without a DID get "
                "their token from their institution"
            )
        _, challenges = self._configured()
        expires_at = self.clock() + CHALLENGE_LIFETIME
        found = await challenges.create(holder_id, expires_at=expires_at)
        return IssuedChallenge(found, holder_id, expires_at)

    async def token(self, challenge: str, proof: str) -> IssuedToken:
        """The token, once `proof` signs `challenge` with a key of the challenged DID."""
        minter, challenges = self._configured()
        taken = await challenges.take(challenge)
        if taken is None:
            raise AuthenticationFailed("unknown or already used challenge: ask for a new one")
        holder_id, expires_at = taken
        if expires_at <= self.clock():
            raise AuthenticationFailed("the challenge has expired: ask for a new one")
        payload = await self._verified(proof, holder_id)
        if payload.get("challenge") != challenge:
            raise AuthenticationFailed("the proof signs another challenge")
        token, until = minter.mint(holder_id, authenticated_by="did")
        return IssuedToken(token, holder_id, until)

    def mint(self, holder_id: str, *, authenticated_by: str) -> IssuedToken:
        """A token for a holder whom `authenticated_by` (an institution) vouches for."""
        minter, _ = self._configured()
        token, until = minter.mint(holder_id, authenticated_by=authenticated_by)
        return IssuedToken(token, holder_id, until)

    def _configured(self) -> tuple[HolderTokenMinter, Challenges]:
        if self.minter is None or self.challenges is None:
            raise TokensNotConfigured("holder tokens are not configured on this registry")
        return self.minter, self.challenges

    async def _verified(self, proof: str, holder_id: str) -> dict[str, Any]:
        """The proof's payload, once its signature holds under a key of `holder_id`."""
        try:
            method = str(jwt.get_unverified_header(proof).get("kid", ""))
        except jwt.PyJWTError:
            raise AuthenticationFailed("the proof is not a compact JWS") from None
        if method.split("#", 1)[0] != holder_id:
            raise AuthenticationFailed("the proof's kid is not a key of the challenged DID")
        documents = {}
        if holder_id.startswith("did:web:"):
            if self.documents is None:
                raise AuthenticationFailed("did:web documents cannot be fetched here")
            try:
                documents[holder_id] = await self.documents.get_json(did_web_url(holder_id))
            except (FetchRefused, KeyResolutionError) as error:
                raise AuthenticationFailed(f"the DID document: {error}") from None
        try:
            key = resolve_verification_method(method, purpose="authentication", documents=documents)
        except KeyResolutionError as error:
            raise AuthenticationFailed(str(error)) from None
        try:
            payload: dict[str, Any] = jwt.decode(
                proof,
                Ed25519PublicKey.from_public_bytes(key.public_key),
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                options={"verify_exp": False},
            )
        except jwt.PyJWTError as error:
            raise AuthenticationFailed(
                f"the proof does not hold ({type(error).__name__})"
            ) from None
        return payload
