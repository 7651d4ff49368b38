"""Reading a Server-Sent Events response as the app sends it (httpx's ASGITransport waits for
the whole body, which an endless stream never ends), with bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

PATIENCE = 10.0
"""Seconds a test waits for what it expects before it fails (not a timing assertion)."""


@dataclass
class SseStream:
    """One open response: its status, and its events and comments as they arrive."""

    status: int
    headers: dict[str, str]
    chunks: asyncio.Queue[bytes | None]
    buffer: str = ""
    ended: bool = False
    comments: list[str] = field(default_factory=list)

    async def events(self, count: int) -> list[dict[str, str]]:
        """The next `count` events (comments set aside); fails after `PATIENCE` seconds."""
        found: list[dict[str, str]] = []
        async with asyncio.timeout(PATIENCE):
            while len(found) < count:
                block = await self._block()
                if block is None:
                    raise AssertionError(f"the stream ended after {found}")
                if block.get("id") is not None or "data" in block:
                    found.append(block)
        return found

    async def comment(self, text: str) -> None:
        """Read on until the comment `text` arrives; fails after `PATIENCE` seconds."""
        async with asyncio.timeout(PATIENCE):
            while text not in self.comments:
                if await self._block() is None:
                    raise AssertionError(f"the stream ended without {text!r}")

    async def _block(self) -> dict[str, str] | None:
        while "\n\n" not in self.buffer:
            chunk = await self.chunks.get()
            if chunk is None:
                return None
            self.buffer += chunk.decode().replace("\r\n", "\n")
        block, self.buffer = self.buffer.split("\n\n", 1)
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            if not name:
                self.comments.append(value.strip())
            else:
                fields[name] = value.removeprefix(" ")
        return fields

    async def body(self) -> str:
        """The whole body of a response that ends (a refusal)."""
        parts = [self.buffer]
        async with asyncio.timeout(PATIENCE):
            while (chunk := await self.chunks.get()) is not None:
                parts.append(chunk.decode())
        return "".join(parts)


@contextlib.asynccontextmanager
async def streaming(
    app: FastAPI, path: str, headers: Mapping[str, str]
) -> AsyncIterator[SseStream]:
    """GET `path` from `app`; leaving the block disconnects, and the app must then finish."""
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    started: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
    gone = asyncio.Event()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.set_result(message)
        elif message["type"] == "http.response.body":
            chunks.put_nowait(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                chunks.put_nowait(None)

    task = asyncio.create_task(app(_scope(path, headers), receive, send))
    try:
        async with asyncio.timeout(PATIENCE):
            start = await started
        headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        yield SseStream(int(start["status"]), headers, chunks)
    finally:
        gone.set()
        async with asyncio.timeout(PATIENCE):
            await task


def _scope(path: str, headers: Mapping[str, str]) -> dict[str, Any]:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"notifier"), *raw],
        "client": ("127.0.0.1", 50000),
        "server": ("notifier", 80),
        "state": {},
    }
