"""API keys resolve to their institution; anything else is a 401 problem."""

import httpx
from fastapi import Depends

from credreg_shared.auth import ApiKeyTable, institution_dependency
from credreg_shared.web import create_app

KEYS = {"key-of-uni-a": "uni-a", "key-of-uni-b": "uni-b"}


def test_table_resolves_each_key_to_its_own_institution() -> None:
    table = ApiKeyTable(KEYS)
    assert table.institution_for("key-of-uni-a") == "uni-a"
    assert table.institution_for("key-of-uni-b") == "uni-b"
    assert table.institution_for("key-of-uni-c") is None
    assert table.institution_for("") is None


async def call(headers: dict[str, str]) -> httpx.Response:
    app = create_app(title="t", version="0")
    current = institution_dependency(ApiKeyTable(KEYS))

    @app.get("/whoami")
    async def whoami(institution: str = Depends(current)) -> dict[str, str]:
        return {"institution": institution}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/whoami", headers=headers)


async def test_known_key_reaches_the_route() -> None:
    response = await call({"Authorization": "Bearer key-of-uni-b"})
    assert response.status_code == 200
    assert response.json() == {"institution": "uni-b"}


async def test_missing_and_unknown_keys_are_401_problems() -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"}):
        response = await call(headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["status"] == 401
