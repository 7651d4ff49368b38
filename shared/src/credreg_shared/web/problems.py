"""RFC 9457 problem details: the ``ProblemError`` services raise and the handlers that render it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from credreg_shared.errors import PublishUnavailable, StorageUnavailable

PROBLEM_JSON = "application/problem+json"
ABOUT_BLANK = "about:blank"
# Python 3.11's http.HTTPStatus still uses the RFC 7231 names for these.
RFC_9110_PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}


class Problem(BaseModel):
    """The problem details body (RFC 9457); ``errors`` lists validation failures."""

    model_config = ConfigDict(extra="allow")

    type: str = ABOUT_BLANK
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class ProblemResponse(JSONResponse):
    """A JSON response served as ``application/problem+json``."""

    media_type = PROBLEM_JSON


class ProblemError(Exception):
    """Raise from a route or dependency to answer with a problem+json response."""

    def __init__(
        self,
        status: int,
        title: str | None = None,
        detail: str | None = None,
        type_: str = ABOUT_BLANK,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.title = title or status_phrase(status)
        self.detail = detail
        self.type = type_
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})
        super().__init__(f"{status} {self.title}: {detail}" if detail else f"{status} {self.title}")


def status_phrase(status: int) -> str:
    """The RFC 9110 reason phrase of an HTTP status code, or a generic one."""
    if status in RFC_9110_PHRASES:
        return RFC_9110_PHRASES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    request: Request,
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = ABOUT_BLANK,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    """Build a problem+json response for ``request``."""
    body: dict[str, Any] = {
        **jsonable_encoder(extensions),
        "type": type_,
        "title": title or status_phrase(status),
        "status": status,
        "instance": request.url.path,
    }
    if detail is not None:
        body["detail"] = detail
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """The validation failures without the offending input (which may be large or secret)."""
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]


def install_problem_handlers(app: FastAPI) -> None:
    """Render validation errors, HTTP exceptions and ``ProblemError`` as problem+json."""

    @app.exception_handler(ProblemError)
    async def on_problem_error(request: Request, exc: ProblemError) -> ProblemResponse:
        return problem_response(
            request,
            exc.status,
            title=exc.title,
            detail=exc.detail,
            type_=exc.type,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> ProblemResponse:
        return problem_response(
            request,
            422,
            detail="The request is not valid; see errors.",
            errors=validation_errors(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http_exception(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        # Starlette's default detail repeats the reason phrase, which is already the title.
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
        if detail == status_phrase(exc.status_code):
            detail = None
        extensions: dict[str, Any] = {}
        if exc.detail is not None and not isinstance(exc.detail, str):
            extensions["errors"] = exc.detail
        return problem_response(
            request, exc.status_code, detail=detail, headers=exc.headers, **extensions
        )

    # Starlette re-raises after this response is sent, so the server still logs the traceback;
    # the client only learns that something failed, never the internals.
    @app.exception_handler(Exception)
    async def on_unexpected_error(request: Request, exc: Exception) -> ProblemResponse:
        return problem_response(request, 500, detail="An unexpected error occurred.")


PLATFORM_ERROR_STATUSES: Mapping[type[Exception], int] = {
    PublishUnavailable: 503,
    StorageUnavailable: 503,
}
"""Outages of the event log or the database: nothing is confirmed, the client may retry."""


def install_error_statuses(app: FastAPI, statuses: Mapping[type[Exception], int]) -> None:
    """Answer each exception kind (and its subclasses) with its status, as problem+json.

    `statuses` is a service's own table (its ``api.py``); platform outages answer 503 unless
    the table says otherwise. The exception's message is the problem's detail, so it must
    never carry secrets or personal data.
    """
    for kind, status in {**PLATFORM_ERROR_STATUSES, **statuses}.items():
        app.add_exception_handler(kind, _answer_with(status))


def _answer_with(status: int) -> Callable[[Request, Exception], Awaitable[ProblemResponse]]:
    async def on_error(request: Request, exc: Exception) -> ProblemResponse:
        return problem_response(request, status, detail=str(exc) or None)

    return on_error


def problem_responses(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route's refusals: problem+json, one line each."""
    return {
        status: {"model": Problem, "description": description}
        for status, description in descriptions.items()
    }
