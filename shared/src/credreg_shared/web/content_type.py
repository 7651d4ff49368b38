"""A 415 problem for a request body of a media type its route does not take, before validation.

FastAPI reads a body as JSON only when its ``Content-Type`` is ``application/json`` or
``application/<x>+json``; any other type (or none) reached the route as bytes and failed
validation with a 422 that did not say why. A request without a body is left alone, and so are
the routes that document no request body.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from credreg_shared.web.problems import ABOUT_BLANK, ProblemResponse, status_phrase

JSON = "application/json"


class ContentTypeMiddleware:
    """Answers 415 when a body's media type is none of those its route documents."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 415 problem+json."""
        if scope["type"] == "http" and has_body(scope):
            route = _matching_route(scope)
            accepted = body_media_types(route)
            if accepted and not is_accepted(header(scope, b"content-type"), accepted):
                scope["route"] = route  # counted under its template, as the router would
                await _unsupported(accepted, scope, receive, send)
                return
        await self.app(scope, receive, send)


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (the first one), or None."""
    found = next((value for key, value in scope["headers"] if key.lower() == name), None)
    return found.decode("latin-1") if found is not None else None


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body: a non-zero length, or a chunked transfer."""
    length = header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return header(scope, b"transfer-encoding") is not None


def media_type(content_type: str | None) -> str | None:
    """``type/subtype`` of a Content-Type value, lower-cased and without parameters."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def is_json(media: str | None) -> bool:
    """``application/json`` or ``application/<x>+json``: what FastAPI parses as JSON."""
    return media == JSON or (
        media is not None and media.startswith("application/") and media.endswith("+json")
    )


def is_accepted(content_type: str | None, accepted: Iterable[str]) -> bool:
    """Whether a Content-Type is one of the accepted media types (JSON takes its +json kin)."""
    media = media_type(content_type)
    return any(media == kind or (kind == JSON and is_json(media)) for kind in accepted)


def body_media_types(route: BaseRoute | None) -> list[str]:
    """The media types of a route's documented request body (none: it takes no body)."""
    if not isinstance(route, APIRoute):
        return []
    documented = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    kinds = [str(kind).lower() for kind in documented]
    if route.body_field is not None:
        kinds.append(str(getattr(route.body_field.field_info, "media_type", JSON)).lower())
    return kinds


def _matching_route(scope: Scope) -> BaseRoute | None:
    # Starlette puts the app in the scope before its middleware runs; the router matches the
    # same way afterwards.
    routes: Iterable[BaseRoute] = getattr(scope.get("app"), "routes", ())
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


async def _unsupported(accepted: list[str], scope: Scope, receive: Receive, send: Send) -> None:
    wanted = " or ".join(sorted({f"'{kind}'" for kind in accepted}))
    if JSON in accepted:
        wanted += " (or application/<x>+json)"
    response = ProblemResponse(
        {
            "type": ABOUT_BLANK,
            "title": status_phrase(415),
            "status": 415,
            "detail": f"this route takes a body of Content-Type {wanted}",
            "instance": scope["path"],
        },
        status_code=415,
    )
    await response(scope, receive, send)
