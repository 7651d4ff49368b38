"""A 401 problem before a body is read, for a secured route called without credentials.

FastAPI parses a JSON body before it runs the dependencies that check credentials, so an
anonymous request with a malformed body got 422 and learnt how the route reads bodies before
being told to authenticate. A route is secured when its OpenAPI operation lists a security
requirement (`credreg_shared.web.security`). Only the presence of an ``Authorization`` header
is checked here: the route's own dependency still decides whether it holds.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from credreg_shared.web.content_type import has_body, header, operation_for
from credreg_shared.web.problems import ABOUT_BLANK, ProblemResponse, status_phrase


class CredentialsFirstMiddleware:
    """Answers 401 to a body sent anonymously to a secured route, before the body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 401 problem+json."""
        if scope["type"] == "http" and has_body(scope) and not header(scope, b"authorization"):
            operation = operation_for(scope)
            if operation is not None and operation.get("security"):
                await _unauthenticated(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _unauthenticated(scope: Scope, receive: Receive, send: Send) -> None:
    response = ProblemResponse(
        {
            "type": ABOUT_BLANK,
            "title": status_phrase(401),
            "status": 401,
            "detail": "this route needs credentials: 'Authorization: Bearer …'",
            "instance": scope["path"],
        },
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
    await response(scope, receive, send)
