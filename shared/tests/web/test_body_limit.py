"""The request body limit: refused early with a 413 problem, per-route limits, bodies intact."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import Request

from credreg_shared.web import create_app
from credreg_shared.web.body_limit import DEFAULT_BODY_LIMIT


def echo_app() -> httpx.AsyncClient:
    app = create_app(title="t", version="0", body_limits={"/big": 4 * DEFAULT_BODY_LIMIT})

    @app.post("/small")
    @app.post("/big")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_body_within_the_limit_reaches_the_route_whole() -> None:
    async with echo_app() as client:
        answer = await client.post("/small", content=b"x" * DEFAULT_BODY_LIMIT)
    assert answer.status_code == 200
    assert answer.json() == {"received": DEFAULT_BODY_LIMIT}


async def test_a_declared_length_over_the_default_is_a_413_problem() -> None:
    async with echo_app() as client:
        answer = await client.post("/small", content=b"x" * (DEFAULT_BODY_LIMIT + 1))
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert "1,048,576 bytes" in answer.json()["detail"]


async def test_a_route_with_its_own_limit_takes_more_but_not_unbounded() -> None:
    async with echo_app() as client:
        taken = await client.post("/big", content=b"x" * (2 * DEFAULT_BODY_LIMIT))
        refused = await client.post("/big", content=b"x" * (4 * DEFAULT_BODY_LIMIT + 1))
    assert taken.json() == {"received": 2 * DEFAULT_BODY_LIMIT}
    assert refused.status_code == 413


async def test_a_chunked_body_is_refused_once_it_passes_the_limit() -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):
            sent += 1
            yield b"x" * 65536

    async with echo_app() as client:
        answer = await client.post("/small", content=chunks())
    assert answer.status_code == 413
    assert sent < 64  # the upload was cut short, not read to the end


async def test_a_chunked_body_within_the_limit_is_passed_on() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"y" * 1000

    async with echo_app() as client:
        answer = await client.post("/small", content=chunks())
    assert answer.json() == {"received": 4000}
