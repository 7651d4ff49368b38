"""The app factory: probes, metrics, OpenAPI and problem+json error answers."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from credreg_shared.web import (
    PROBLEM_JSON,
    ProblemError,
    ReadinessCheck,
    add_readiness_check,
    create_app,
)


class NewThing(BaseModel):
    name: str = Field(min_length=1)
    count: int


async def passes() -> None:
    return None


async def fails() -> None:
    raise ConnectionError("db.internal:27017 refused")


def sample_app(*checks: ReadinessCheck) -> FastAPI:
    app = create_app(title="sample", version="1.2.3", readiness=checks)

    @app.post("/things", status_code=201)
    async def create_thing(thing: NewThing) -> NewThing:
        return thing

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: str) -> NewThing:
        if thing_id == "taken":
            raise ProblemError(409, "Conflict", "thing taken", type_="urn:credreg:problem:taken")
        if thing_id == "secret":
            raise HTTPException(403, "not yours")
        raise ProblemError(404, detail=f"no thing {thing_id}", extensions={"thing_id": thing_id})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("internal detail that must not leak")

    return app


async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(sample_app(ReadinessCheck("always", passes))):
        yield c


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ok_when_every_check_passes(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_lists_failing_checks_as_problem_json() -> None:
    async def hangs() -> None:
        import asyncio

        await asyncio.Event().wait()

    app = sample_app(
        ReadinessCheck("fine", passes),
        ReadinessCheck("mongodb", fails),
        ReadinessCheck("kafka", hangs, timeout=0.05),
    )
    async for client in client_for(app):
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    assert body["instance"] == "/readyz"
    assert body["checks"] == [
        {"name": "mongodb", "error": "ConnectionError"},
        {"name": "kafka", "error": "timed out"},
    ]
    assert "db.internal" not in response.text


async def test_readiness_check_added_later_is_run() -> None:
    app = sample_app()
    async for client in client_for(app):
        assert (await client.get("/readyz")).status_code == 200
        add_readiness_check(app, ReadinessCheck("late", fails))
        assert (await client.get("/readyz")).status_code == 503


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/things/abc")
    await client.get("/things/def")
    await client.get("/nowhere")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{method="GET",route="/things/{thing_id}",status="404"} 2.0' in text
    assert 'http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
    assert "/things/abc" not in text


async def test_each_app_has_its_own_metrics_registry() -> None:
    first, second = sample_app(), sample_app()
    async for client in client_for(first):
        await client.get("/healthz")
    async for client in client_for(second):
        text = (await client.get("/metrics")).text
    assert 'route="/healthz"' not in text


async def test_bad_body_is_422_problem_json_with_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "", "count": "many"})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["title"] == "Unprocessable Content"
    assert body["status"] == 422
    assert body["instance"] == "/things"
    assert body["detail"]
    assert {tuple(error["loc"]) for error in body["errors"]} == {
        ("body", "name"),
        ("body", "count"),
    }
    assert all("input" not in error for error in body["errors"])


async def test_good_body_passes_validation(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "x", "count": 2})
    assert response.status_code == 201
    assert response.json() == {"name": "x", "count": 2}


@pytest.mark.parametrize(
    ("path", "status", "title", "detail", "type_"),
    [
        ("/things/taken", 409, "Conflict", "thing taken", "urn:credreg:problem:taken"),
        ("/things/x1", 404, "Not Found", "no thing x1", "about:blank"),
        ("/things/secret", 403, "Forbidden", "not yours", "about:blank"),
    ],
)
async def test_errors_raised_by_routes_are_problem_json(
    client: httpx.AsyncClient, path: str, status: int, title: str, detail: str, type_: str
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert {k: body[k] for k in ("type", "title", "status", "detail", "instance")} == {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": path,
    }


async def test_problem_error_extensions_are_members_of_the_body(client: httpx.AsyncClient) -> None:
    assert (await client.get("/things/x1")).json()["thing_id"] == "x1"


async def test_unknown_route_and_wrong_method_are_problem_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nowhere")
    wrong_method = await client.delete("/things")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM_JSON)
    assert (wrong_method.status_code, wrong_method.headers["content-type"]) == (405, PROBLEM_JSON)
    assert wrong_method.headers["allow"] == "POST"


async def test_unexpected_error_is_500_problem_json_without_internals(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "internal detail" not in response.text
    metrics = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/boom",status="500"} 1.0' in metrics


async def test_openapi_documents_422_as_problem_json(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert schema["info"] == {"title": "sample", "version": "1.2.3"}
    unprocessable = schema["paths"]["/things"]["post"]["responses"]["422"]
    assert unprocessable["content"] == {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
