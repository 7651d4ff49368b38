"""A 415 problem for a request body of a media type its route does not take, before validation.

FastAPI reads a body as JSON only when its ``Content-Type`` is ``application/json`` or
``application/<x>+json``; any other type (or none) reached the route as bytes and failed
validation with a 422 that did not say why. A request without a body is left alone, and so are
the routes that document no request body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

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
            accepted = body_media_types(operation_for(scope))
            if accepted and not is_accepted(header(scope, b"content-type"), accepted):
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


def body_media_types(operation: Mapping[str, Any] | None) -> list[str]:
    """The media types of an operation's documented request body (none: it takes no body)."""
    if operation is None:
        return []
    content = operation.get("requestBody", {}).get("content", {})
    return [str(kind).lower() for kind in content]


TEMPLATE_KEY = "credreg.route_template"
"""Where a middleware that answers before the router leaves the route's template (metrics)."""


def operation_for(scope: Scope) -> Mapping[str, Any] | None:
    """The OpenAPI operation that will answer this request, if any (its path template is left
    in the scope under `TEMPLATE_KEY`).

    Read from the app's own OpenAPI document (public and stable), not from its route objects,
    whose nesting for included routers differs between FastAPI versions.
    """
    app = scope.get("app")
    openapi = getattr(app, "openapi", None)
    if openapi is None:
        return None
    paths = _compiled_paths(app, openapi())
    method = str(scope.get("method", "")).lower()
    for pattern, template, operations in paths:
        if pattern.fullmatch(scope["path"]) and method in operations:
            scope[TEMPLATE_KEY] = template
            found: Mapping[str, Any] = operations[method]
            return found
    return None


def _compiled_paths(
    app: Any, document: Mapping[str, Any]
) -> list[tuple[re.Pattern[str], str, Any]]:
    # Compiled once per app; a parameter matches one segment, or several for a `:path` one
    # (FastAPI documents both as `{name}`), so the one-segment forms are tried first.
    cached = getattr(app.state, "credreg_openapi_paths", None)
    if cached is None:
        narrow: list[tuple[re.Pattern[str], str, Any]] = []
        wide: list[tuple[re.Pattern[str], str, Any]] = []
        for template, operations in document.get("paths", {}).items():
            for segment, target in (("[^/]+", narrow), (".+", wide)):
                regex = re.sub(r"\\\{[^}]+\\\}", segment, re.escape(template))
                target.append((re.compile(regex), template, operations))
        cached = narrow + wide
        app.state.credreg_openapi_paths = cached
    result: list[tuple[re.Pattern[str], str, Any]] = cached
    return result


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
