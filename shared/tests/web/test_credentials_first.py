"""Routes in included routers, as every service declares them: 415 for a body of another media
type, and 401 before the body is read when a secured route is called without credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel

from credreg_shared.web import PROBLEM_JSON, create_app
from credreg_shared.web.security import INSTITUTION_API_KEY, secured


class Thing(BaseModel):
    name: str


async def anybody_with_a_header(request: Request) -> str:
    return request.headers.get("authorization", "")


Caller = Annotated[str, Depends(secured(anybody_with_a_header, INSTITUTION_API_KEY))]


def sample_app() -> FastAPI:
    app = create_app(title="t", version="0")
    router = APIRouter(prefix="/v1")

    @router.post("/things")
    async def create_thing(thing: Thing, caller: Caller) -> Thing:
        return thing

    @router.put("/shelves/{shelf:path}/thing")
    async def shelve(shelf: str, thing: Thing, caller: Caller) -> dict[str, str]:
        return {"shelf": shelf, "name": thing.name}

    @router.post("/public")
    async def public(thing: Thing) -> Thing:
        return thing

    app.include_router(router)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sample_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


JSON = {"Content-Type": "application/json"}
KEY = {"Authorization": "Bearer k"}


async def test_a_body_sent_without_credentials_is_a_401_before_it_is_read(
    client: httpx.AsyncClient,
) -> None:
    for path, method in (("/v1/things", "POST"), ("/v1/shelves/a/b/thing", "PUT")):
        answer = await client.request(method, path, content=b"{not json", headers=JSON)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.headers["www-authenticate"] == "Bearer"
    with_key = await client.post("/v1/things", content=b"{not json", headers={**JSON, **KEY})
    assert with_key.status_code == 422, "with credentials, the body is read and refused"
    public = await client.post("/v1/public", content=b"{not json", headers=JSON)
    assert public.status_code == 422, "a public route asks for no credentials"
    fine = await client.post("/v1/things", json={"name": "x"}, headers=KEY)
    assert fine.status_code == 200


async def test_a_body_of_another_media_type_is_a_415_in_an_included_router(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(
        "/v1/things", content=b"name=x", headers={"Content-Type": "text/plain", **KEY}
    )
    assert answer.status_code == 415, answer.text
    metrics = (await client.get("/metrics")).text
    assert 'route="/v1/things",status="415"' in metrics
    assert 'route="/v1/things",status="401"' not in metrics
