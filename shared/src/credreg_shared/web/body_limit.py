"""A request body size limit for every route, with larger limits for the routes that need them.

The body is read (and counted) before the app sees it: a declared ``Content-Length`` over the
limit is refused at once, and a chunked body as soon as it passes the limit, both with a 413
problem, so that no client can make a service buffer an unbounded body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credreg_shared.web.problems import PROBLEM_JSON

DEFAULT_BODY_LIMIT = 1024 * 1024
"""Bytes a request body may have unless its route says otherwise (1 MiB)."""


class BodyLimitMiddleware:
    """Refuses request bodies over the limit of their path (the longest matching prefix)."""

    def __init__(
        self, app: ASGIApp, *, default: int = DEFAULT_BODY_LIMIT, limits: Mapping[str, int] = {}
    ) -> None:
        self.app = app
        self.default = default
        # Longest prefix first, so that a route's own limit wins over its parent's.
        self.limits = sorted(limits.items(), key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        """The limit of a path."""
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with its body read and counted, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _too_large(scope, send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A `receive` that hands the app the body read so far in one message, then the rest."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await receive()

    return replayed


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"the request body is over this route's limit of {limit:,} bytes",
            "instance": scope["path"],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
