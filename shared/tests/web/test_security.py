"""Auth schemes in the OpenAPI document, declared by the checks, which keep their own answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from credreg_shared.auth import install_api_keys
from credreg_shared.web import ProblemError, create_app
from credreg_shared.web.security import (
    INSTITUTION_API_KEY,
    CallingInstitution,
    bearer_scheme,
    secured,
)

TICKET = bearer_scheme("ticket", "A ticket from the box office.", bearer_format="JWT")


async def ticket_holder(request: Request) -> str:
    if request.headers.get("authorization") != "Bearer t1":
        raise ProblemError(401, detail="no ticket", headers={"WWW-Authenticate": "Bearer"})
    return "holder-1"


TicketHolder = Annotated[str, Depends(secured(ticket_holder, TICKET))]
Anyone = Annotated[str, Depends(secured(ticket_holder, TICKET, INSTITUTION_API_KEY))]


def sample_app() -> FastAPI:
    app = create_app(title="t", version="0")
    install_api_keys(app, {"key-uni": "did:web:uni.example"})

    @app.get("/mine")
    async def mine(institution: CallingInstitution) -> dict[str, str]:
        return {"institution": institution}

    @app.get("/show")
    async def show(holder: TicketHolder) -> dict[str, str]:
        return {"holder": holder}

    @app.get("/either")
    async def either(caller: Anyone) -> dict[str, str]:
        return {"caller": caller}

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"open": "yes"}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sample_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


async def test_the_schemes_are_declared_as_http_bearer(client: httpx.AsyncClient) -> None:
    schemes = (await openapi(client))["components"]["securitySchemes"]
    assert set(schemes) == {"institutionApiKey", "ticket"}
    assert schemes["institutionApiKey"]["type"] == "http"
    assert schemes["institutionApiKey"]["scheme"] == "bearer"
    assert "API key" in schemes["institutionApiKey"]["description"]
    assert schemes["ticket"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A ticket from the box office.",
    }


async def test_each_route_requires_its_schemes_and_public_ones_none(
    client: httpx.AsyncClient,
) -> None:
    paths = (await openapi(client))["paths"]
    assert paths["/mine"]["get"]["security"] == [{"institutionApiKey": []}]
    assert paths["/show"]["get"]["security"] == [{"ticket": []}]
    assert paths["/either"]["get"]["security"] == [{"ticket": []}, {"institutionApiKey": []}]
    assert "security" not in paths["/public"]["get"]
    assert "security" not in paths["/healthz"]["get"]


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "send the institution's API key as 'Authorization: Bearer <key>'"),
        ({"Authorization": "Basic a2V5"}, "send the institution's API key as"),
        ({"Authorization": "Bearer wrong"}, "unknown API key"),
    ],
)
async def test_the_checks_keep_their_401_problems(
    client: httpx.AsyncClient, headers: dict[str, str], detail: str
) -> None:
    answer = await client.get("/mine", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["detail"].startswith(detail)


async def test_the_checks_answer_the_caller(client: httpx.AsyncClient) -> None:
    mine = await client.get("/mine", headers={"Authorization": "Bearer key-uni"})
    show = await client.get("/show", headers={"Authorization": "Bearer t1"})
    refused = await client.get("/show")
    assert mine.json() == {"institution": "did:web:uni.example"}
    assert show.json() == {"holder": "holder-1"}
    assert refused.status_code == 401
    assert refused.json()["detail"] == "no ticket"
