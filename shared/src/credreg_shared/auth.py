"""Institution API keys: `Authorization: Bearer <key>` resolved to the institution it belongs to.

For now the keys come from settings (``CREDREG_API_KEYS`` as a JSON object of key → institution
id); keys are compared by their SHA-256 digest in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request

from credreg_shared.api_keys import KeptApiKey
from credreg_shared.web.problems import ProblemError

InstitutionResolver = Callable[[Request], Awaitable[str]]


def key_digest(api_key: str) -> bytes:
    """The stored form of an API key."""
    return hashlib.sha256(api_key.encode()).digest()


class ApiKeyTable:
    """Hashed API keys of the institutions allowed to call a service."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._digests = [(key_digest(key), institution) for key, institution in keys.items()]

    def institution_for(self, api_key: str) -> str | None:
        """The institution that owns `api_key`, or None."""
        presented = key_digest(api_key)
        found = None
        for digest, institution in self._digests:
            # Compare against every entry so timing does not reveal which key matched.
            if hmac.compare_digest(digest, presented):
                found = institution
        return found


def bearer_token(request: Request) -> str:
    """The bearer token of a request, or a 401 problem."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401,
            detail="send the institution's API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def institution_dependency(table: ApiKeyTable) -> InstitutionResolver:
    """A FastAPI dependency answering the calling institution's id (401 when unknown)."""

    async def current_institution(request: Request) -> str:
        institution = table.institution_for(bearer_token(request))
        if institution is None:
            raise ProblemError(
                401, detail="unknown API key", headers={"WWW-Authenticate": "Bearer"}
            )
        return institution

    return current_institution


KeptKeyLookup = Callable[[Request, str], Awaitable[KeptApiKey | None]]
"""Finds a kept API key by its SHA-256 hex digest (the request gives access to the app)."""


def institution_resolver(
    table: ApiKeyTable, kept: KeptKeyLookup | None = None, *, scope: str = "issue"
) -> InstitutionResolver:
    """Callers by API key: the settings' keys, then the kept ones that carry `scope`."""

    async def resolve(request: Request) -> str:
        token = bearer_token(request)
        institution = table.institution_for(token)
        if institution is not None:
            return institution
        found = await kept(request, key_digest(token).hex()) if kept is not None else None
        if found is None:
            raise ProblemError(
                401, detail="unknown API key", headers={"WWW-Authenticate": "Bearer"}
            )
        if found.revoked:
            raise ProblemError(
                401, detail="this API key was revoked", headers={"WWW-Authenticate": "Bearer"}
            )
        if scope not in found.scopes:
            raise ProblemError(403, detail=f"this API key lacks the {scope!r} scope")
        return found.institution

    return resolve


def install_api_keys(app: FastAPI, keys: Mapping[str, str]) -> None:
    """Make `calling_institution` resolve callers against these keys."""
    app.state.authenticate = institution_dependency(ApiKeyTable(keys))


async def calling_institution(request: Request) -> str:
    """FastAPI dependency: the calling institution's id (401 problem when unknown)."""
    resolver: InstitutionResolver = request.app.state.authenticate
    return await resolver(request)
