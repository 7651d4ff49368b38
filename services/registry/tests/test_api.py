"""The registry's routes over the projection's in-memory view (no Kafka, no MongoDB)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_shared.credentials.document_loader import MICROCREDENTIAL_V1_URL, context_bytes
from credreg_shared.errors import StorageUnavailable
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging.handlers import ConsumedEvent
from credreg_shared.storage.ports import Document

HOLDER = "did:example:holder-1"
FIRST = "urn:uuid:00000000-0000-4000-8000-000000000001"
SECOND = "urn:uuid:00000000-0000-4000-8000-000000000002"
PENDING = "urn:uuid:00000000-0000-4000-8000-000000000003"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    view = InMemoryView()
    common = {"issuer_id": samples.SAMPLE_ISSUER, "holder_id": HOLDER}
    events = (
        samples.credential_issued(FIRST, holder_id=HOLDER),
        samples.credential_issued(SECOND, holder_id=HOLDER),
        models.CredentialRevoked(credential_id=SECOND, reason="fraud", **common),
        models.CredentialSuspended(credential_id=PENDING, **common),
    )
    await CredentialProjection(view).apply(
        [
            ConsumedEvent(new_envelope(data, source="urn:test"), "credreg.credentials", 0, n)
            for n, data in enumerate(events)
        ]
    )
    app = build_app(fakes=Adapters(documents=view, store=view))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
        yield http


async def test_a_credential_is_found_by_its_urn_id(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/credentials/{SECOND}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == SECOND
    assert body["status"] == "revoked"
    assert body["revocation"]["reason"] == "fraud"
    assert body["holder_id"] == HOLDER
    assert body["issuer_id"] == samples.SAMPLE_ISSUER
    assert body["achievement"]["name"] == "CPR and First Aid"
    assert body["achievement"]["competencies"][0]["name"] == "Adult CPR"
    assert body["credential"]["credentialSubject"]["id"] == HOLDER
    assert body["valid_from"].startswith("2026-01-15T09:00:00")
    assert {"updated_at", "valid_until", "issued_at"} <= set(body)
    assert "applied_events" not in body and "_id" not in body


@pytest.mark.parametrize("unknown", [PENDING, "urn:uuid:nope", "plain-id"])
async def test_unknown_and_placeholder_credentials_are_404_problems(
    client: httpx.AsyncClient, unknown: str
) -> None:
    response = await client.get(f"/v1/credentials/{unknown}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert unknown in response.json()["detail"]


async def test_a_holders_portfolio_lists_issued_credentials_only(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/v1/holders/{HOLDER}/credentials")
    assert response.status_code == 200
    body = response.json()
    assert body["holder_id"] == HOLDER
    assert [(c["id"], c["status"]) for c in body["credentials"]] == [
        (FIRST, "active"),
        (SECOND, "revoked"),
    ]
    assert body["credentials"][0]["achievement_name"] == "CPR and First Aid"
    assert body["credentials"][0]["issuer_id"] == samples.SAMPLE_ISSUER


async def test_an_unknown_holder_has_an_empty_portfolio(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/holders/did:example:nobody/credentials")
    assert response.status_code == 200
    assert response.json() == {
        "holder_id": "did:example:nobody",
        "credentials": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/holders/{HOLDER}/credentials?cursor=abc",
        "/v1/search/credentials",
        "/v1/search/credentials?competency=",
        "/v1/search/credentials?competency=FA-1&cursor=1",
        "/v1/search/credentials?competency=FA-1&cursor=1.x",
        "/v1/search/credentials?competency=FA-1&limit=0",
        "/v1/search/credentials?competency=FA-1&limit=101",
    ],
)
async def test_a_search_without_a_criterion_or_a_foreign_cursor_is_a_400_problem(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_search_by_competency_code_shows_live_status_and_no_holder(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/search/credentials", params={"competency": "FA-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(c["id"], c["status"]) for c in body["credentials"]] == [
        (FIRST, "active"),
        (SECOND, "revoked"),
    ]
    assert body["next_cursor"] is None
    assert all("holder_id" not in c for c in body["credentials"])


async def test_the_verification_lookup_answers_status_without_the_credential(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/v1/credentials/{SECOND}/verification")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["in_force"]) == (SECOND, "revoked", False)
    assert "credential" not in body
    assert (await client.get(f"/v1/credentials/{PENDING}/verification")).status_code == 404


async def test_stats_count_issued_credentials_by_status_and_placeholders(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/stats")
    assert response.status_code == 200
    assert response.json() == {
        "credentials": 2,
        "by_status": {"active": 1, "suspended": 0, "expired": 0, "revoked": 1},
        "awaiting_issuance": 1,
    }


async def test_the_openapi_document_describes_the_routes_and_the_404_problem(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    get_credential = schema["paths"]["/v1/credentials/{credential_id}"]["get"]
    assert "application/problem+json" in get_credential["responses"]["404"]["content"]
    ok = get_credential["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/CredentialView"}
    assert {"/v1/holders/{holder_id}/credentials", "/v1/stats"} <= set(schema["paths"])


class UnreachableView(InMemoryView):
    """A view whose database is away, as the Mongo adapter reports it."""

    async def find_all(self, collection: str) -> list[Document]:
        raise StorageUnavailable("the database is unavailable (ServerSelectionTimeoutError)")


async def test_a_database_outage_is_a_503_problem() -> None:
    view = UnreachableView()
    app = build_app(fakes=Adapters(documents=view, store=view))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
        response = await http.get("/v1/stats")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_extension_context_is_served_as_signed_against_and_cacheable(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/contexts/v1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    assert "max-age=31536000" in response.headers["cache-control"]
    assert response.headers["access-control-allow-origin"] == "*"
    # Byte for byte the copy the issuer signs against: the same digest as the shipped index.
    digest = hashlib.sha256(response.content).hexdigest()
    assert response.headers["etag"] == f'"{digest}"'
    assert digest == context_bytes(MICROCREDENTIAL_V1_URL)[1]
    terms = response.json()["@context"]
    assert terms["learningHours"]["@id"] == "https://w3id.org/credreg#learningHours"
    assert {"deliveryMode", "assessment", "accreditation", "accreditor", "industryPartner"} <= set(
        terms
    )

    again = await client.get("/contexts/v1", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    stale = await client.get("/contexts/v1", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200
