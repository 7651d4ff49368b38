"""The OpenAPI document lists the refusals the chassis answers itself, as problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from credreg_shared.web import PROBLEM_JSON, create_app

PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


class Thing(BaseModel):
    name: str


def responses_of(path: str, method: str) -> dict[str, Any]:
    app = create_app(title="t", version="0")

    @app.post("/things")
    async def create_thing(thing: Thing) -> Thing:
        return thing

    @app.post(
        "/raw",
        openapi_extra={"requestBody": {"content": {"application/json": {"schema": {}}}}},
    )
    async def raw() -> None:
        return None

    @app.get("/things/{name}")
    async def get_thing(name: str) -> Thing:
        return Thing(name=name)

    responses: dict[str, Any] = app.openapi()["paths"][path][method]["responses"]
    return responses


def test_routes_taking_a_body_list_its_refusals() -> None:
    for path in ("/things", "/raw"):
        responses = responses_of(path, "post")
        for status in ("400", "413", "415"):
            assert responses[status]["content"] == PROBLEM, (path, status)


def test_routes_with_path_parameters_list_the_routers_404() -> None:
    responses = responses_of("/things/{name}", "get")
    assert responses["404"]["content"] == PROBLEM
    assert "415" not in responses


def test_routes_without_either_list_neither() -> None:
    app: FastAPI = create_app(title="t", version="0")
    responses = app.openapi()["paths"]["/healthz"]["get"]["responses"]
    assert set(responses) == {"200"}
