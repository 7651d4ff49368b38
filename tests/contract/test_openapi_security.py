"""Each service's OpenAPI document declares its auth schemes, and every route that answers 401
without credentials requires one of them (and public routes none)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .apps import SERVICES, Service

PLACEHOLDER = "x"


@pytest.fixture(params=SERVICES, ids=lambda service: service.name)
def service(request: pytest.FixtureRequest) -> Service:
    found: Service = request.param
    return found


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.build())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield http


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path with placeholders for its parameters, operation) of every route."""
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", PLACEHOLDER, path), operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def required_schemes(operation: dict[str, Any]) -> list[str]:
    """The schemes a route takes, unless one of its alternatives is no scheme at all."""
    requirements: list[dict[str, Any]] = operation.get("security", [])
    if any(not requirement for requirement in requirements):
        return []
    return [name for requirement in requirements for name in requirement]


async def test_the_document_declares_each_scheme_as_http_bearer(
    service: Service, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    schemes = document.get("components", {}).get("securitySchemes", {})
    assert set(schemes) == set(service.tokens)
    for scheme in schemes.values():
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        assert scheme["description"]


async def test_routes_answering_401_without_a_key_require_a_scheme_and_no_others_do(
    service: Service, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    mismatched = []
    for method, path, operation in operations(document):
        answer = await client.request(method, path)
        if (answer.status_code == 401) != bool(required_schemes(operation)):
            mismatched.append((method, path, answer.status_code, operation.get("security")))
    assert not mismatched, mismatched


async def test_the_declared_scheme_is_the_one_the_route_takes(
    service: Service, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    refused = []
    for method, path, operation in operations(document):
        for scheme in required_schemes(operation):
            headers = {"Authorization": f"Bearer {service.tokens[scheme]}"}
            answer = await client.request(method, path, headers=headers)
            # 403 is the caller's rights (another holder's portfolio), not its credentials.
            if answer.status_code == 401:
                refused.append((method, path, scheme, answer.text))
    assert not refused, refused
