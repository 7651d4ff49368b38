"""FastAPI dependencies that find the `Caller`: a holder (holder token, checked by the app's
``state.holder_tokens``), an institution (API key, resolved by the app's
``state.authenticate``, which sets the scope), or nobody.

A bearer token shaped like a JWT is taken as a holder token; any other as an API key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from credreg_shared.api_keys import KeptApiKey, KeptKeys
from credreg_shared.auth import ApiKeyTable, InstitutionResolver, institution_resolver
from credreg_shared.callers import Caller
from credreg_shared.holder_tokens import HolderTokenVerifier, InvalidHolderToken, verifier_from
from credreg_shared.settings import CallerSettings
from credreg_shared.web import ProblemError
from credreg_shared.web.security import INSTITUTION_API_KEY, bearer_scheme, secured

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def optional_caller(request: Request) -> Caller:
    """The caller, or an anonymous one; 401 for a token or key that does not hold."""
    token = _token(request)
    if token is None:
        return Caller()
    if token.count(".") == 2:
        verifier: HolderTokenVerifier | None = request.app.state.holder_tokens
        if verifier is None:
            raise ProblemError(401, detail="holder tokens are not taken here", headers=CHALLENGE)
        try:
            return Caller(holder_id=verifier.check(token).holder_id)
        except InvalidHolderToken as error:
            raise ProblemError(401, detail=str(error), headers=CHALLENGE) from None
    resolve: InstitutionResolver = request.app.state.authenticate
    return Caller(institution=await resolve(request))


async def known_caller(request: Request) -> Caller:
    """The caller; 401 for anonymous ones."""
    caller = await optional_caller(request)
    if caller.anonymous:
        raise ProblemError(
            401,
            detail="send a holder token, or an institution API key, as 'Authorization: Bearer …'",
            headers=CHALLENGE,
        )
    return caller


async def institution_only(request: Request) -> str:
    """The calling institution (401 anonymous, 403 a holder)."""
    caller = await known_caller(request)
    if caller.institution is None:
        raise ProblemError(403, detail="this route needs an institution API key")
    return caller.institution


HOLDER_TOKEN = bearer_scheme(
    "holderToken",
    "A holder token: an EdDSA JWT scoped to one holder, minted by the registry after a DID "
    "authentication (`POST /v1/holders/auth/challenge`, then `…/auth/token`) or on an "
    "institution's word (`POST /v1/holders/{holder_id}/tokens`).",
    bearer_format="JWT",
)
KnownCaller = Annotated[Caller, Depends(secured(known_caller, HOLDER_TOKEN, INSTITUTION_API_KEY))]
Institution = Annotated[str, Depends(secured(institution_only, INSTITUTION_API_KEY))]


async def kept_key(request: Request, digest: str) -> KeptApiKey | None:
    """An institution's API key kept by the issuer and announced on the log (the app's
    `KeptKeys` use case)."""
    keys: KeptKeys = request.app.state.use_cases[KeptKeys]
    return await keys.find(digest)


def install_callers(app: FastAPI, settings: CallerSettings, *, scope: str = "read") -> None:
    """Let `app` find its callers: holder tokens checked with public keys only (none taken
    without a configured key), institutions by API key with `scope`."""
    secret = settings.holder_token_key.get_secret_value() if settings.holder_token_key else None
    keyed = secret is not None or bool(settings.holder_token_public_keys)
    app.state.holder_tokens = (
        verifier_from(secret, settings.holder_token_public_keys) if keyed else None
    )
    app.state.authenticate = institution_resolver(
        ApiKeyTable(settings.api_keys), kept_key, scope=scope
    )
