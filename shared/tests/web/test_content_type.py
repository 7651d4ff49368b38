"""415 for a body its route does not take: JSON routes only, before validation, documented."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from credreg_shared.web import PROBLEM_JSON, create_app


class Thing(BaseModel):
    name: str


def sample_app() -> FastAPI:
    app = create_app(title="t", version="0")

    @app.post("/things")
    async def create_thing(thing: Thing) -> Thing:
        return thing

    @app.post("/things/{name}/touch")
    async def touch(name: str) -> dict[str, str]:
        return {"touched": name}

    @app.post(
        "/raw",
        openapi_extra={
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
        },
    )
    async def raw(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.put("/optional")
    async def optional(thing: Thing | None = None) -> dict[str, bool]:
        return {"given": thing is not None}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sample_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def send(
    client: httpx.AsyncClient, path: str, content: bytes, content_type: str | None
) -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    method = "PUT" if path == "/optional" else "POST"
    return await client.request(method, path, content=content, headers=headers)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "json", None],
)
async def test_a_body_that_is_not_json_is_a_415_problem(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    answer = await send(client, "/things", b'{"name": "x"}', content_type)
    assert answer.status_code == 415
    assert answer.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == 415
    assert problem["title"] == "Unsupported Media Type"
    assert "'application/json'" in problem["detail"]
    assert problem["instance"] == "/things"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/merge-patch+json",
        "application/ld+json",
    ],
)
async def test_json_and_its_kin_reach_the_route(
    client: httpx.AsyncClient, content_type: str
) -> None:
    answer = await send(client, "/things", b'{"name": "x"}', content_type)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"name": "x"}


async def test_the_415_comes_before_validation(client: httpx.AsyncClient) -> None:
    answer = await send(client, "/things", b"not even json", "text/plain")
    assert answer.status_code == 415


async def test_a_route_reading_its_own_json_body_is_checked_too(client: httpx.AsyncClient) -> None:
    refused = await send(client, "/raw", b"{}", "text/plain")
    taken = await send(client, "/raw", b"{}", "application/json")
    assert refused.status_code == 415
    assert taken.json() == {"received": 2}


async def test_requests_without_a_body_are_left_alone(client: httpx.AsyncClient) -> None:
    answer = await send(client, "/optional", b"", "text/plain")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"given": False}


async def test_routes_that_take_no_body_are_left_alone(client: httpx.AsyncClient) -> None:
    answer = await send(client, "/things/a/touch", b"ignored", "text/plain")
    assert answer.status_code == 200
    assert answer.json() == {"touched": "a"}


async def test_unknown_routes_and_wrong_methods_keep_their_answers(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.post("/nowhere", content=b"x", headers={"content-type": "text/plain"})
    wrong_method = await client.patch(
        "/things", content=b"x", headers={"content-type": "text/plain"}
    )
    assert unknown.status_code == 404
    assert wrong_method.status_code == 405


async def test_a_chunked_body_is_checked(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "x"}'

    answer = await client.post("/things", content=chunks(), headers={"content-type": "text/plain"})
    assert answer.status_code == 415


async def test_a_refused_body_is_counted_under_its_route(client: httpx.AsyncClient) -> None:
    await send(client, "/things", b"x", "text/plain")
    metrics = (await client.get("/metrics")).text
    assert 'http_requests_total{method="POST",route="/things",status="415"} 1.0' in metrics
