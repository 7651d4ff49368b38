"""Auth schemes in each service's OpenAPI document, declared by the dependencies that check them.

A scheme only documents (``components.securitySchemes`` and each route's ``security``): it
never refuses a request itself (``auto_error=False``), so the check it wraps keeps answering
every refusal as problem+json. Another scheme is one `bearer_scheme` and the checks that take
it, for example::

    HOLDER_TOKEN = bearer_scheme("holderToken", "A holder token …", bearer_format="JWT")
    CallingHolder = Annotated[Caller, Depends(secured(holder_of, HOLDER_TOKEN))]
    # either credential: a route lists both requirements, and the check takes either
    KnownCaller = Annotated[Caller, Depends(secured(caller_of, HOLDER_TOKEN, INSTITUTION_API_KEY))]

Not re-exported by ``credreg_shared.web``: this module imports ``credreg_shared.auth``, which
imports that package.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from credreg_shared.auth import calling_institution

T = TypeVar("T")


def bearer_scheme(name: str, description: str, *, bearer_format: str | None = None) -> HTTPBearer:
    """An HTTP bearer scheme, listed as `name` in the OpenAPI document, that refuses nothing."""
    return HTTPBearer(
        scheme_name=name, description=description, bearerFormat=bearer_format, auto_error=False
    )


INSTITUTION_API_KEY = bearer_scheme(
    "institutionApiKey",
    "An institution's API key, from `CREDREG_API_KEYS` or created through the issuer's admin "
    "API (`POST /v1/institutions/{id}/api-keys`), scoped `issue`, `revoke` or `read`.",
)
ADMIN_API_KEY = bearer_scheme(
    "adminApiKey",
    "The issuer's bootstrap admin key (`CREDREG_ADMIN_API_KEY`); without it the admin routes "
    "answer 401.",
)


def secured(
    check: Callable[[Request], Awaitable[T]], *schemes: HTTPBearer
) -> Callable[..., Awaitable[T]]:
    """A dependency answering what `check` answers, documented as taking any of `schemes`."""

    async def dependency(request: Request, **_credentials: Any) -> T:
        return await check(request)

    # One parameter per scheme, so that FastAPI lists each one as a security requirement.
    credentials = [
        inspect.Parameter(
            f"scheme_{index}",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[HTTPAuthorizationCredentials | None, Security(scheme)],
        )
        for index, scheme in enumerate(schemes)
    ]
    request = inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)
    dependency.__signature__ = inspect.Signature([request, *credentials])  # type: ignore[attr-defined]
    names = "_".join(scheme.scheme_name for scheme in schemes)
    dependency.__name__ = f"{getattr(check, '__name__', 'check')}_by_{names}"
    return dependency


CallingInstitution = Annotated[str, Depends(secured(calling_institution, INSTITUTION_API_KEY))]
"""Route parameter type for the institution whose API key called (401/403 problem otherwise)."""
