"""The registry's routes over the projection's in-memory view (no Kafka, no MongoDB)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
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
COMMON = {"issuer_id": samples.SAMPLE_ISSUER, "holder_id": HOLDER}
NOTICED_AT = datetime(2027, 12, 16, 9, 0, tzinfo=UTC)
SETTINGS = RegistrySettings(api_keys={"key-issuer": samples.SAMPLE_ISSUER})
AS_ISSUER = {"Authorization": "Bearer key-issuer"}


async def client_over(*events: models.EventData) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a registry whose view holds these events (one batch, one per minute)."""
    view = InMemoryView()
    await CredentialProjection(view).apply(
        [
            ConsumedEvent(
                new_envelope(data, source="urn:test", time=NOTICED_AT.replace(minute=n)),
                "credreg.credentials",
                0,
                n,
            )
            for n, data in enumerate(events)
        ]
    )
    app = build_app(SETTINGS, fakes=Adapters(documents=view, store=view))
    transport = httpx.ASGITransport(app=app)
    # As the issuer of every sample credential: it may read them all (tests of who may read
    # what are in test_access.py).
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registry", headers=AS_ISSUER
    ) as http:
        yield http


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for http in client_over(
        samples.credential_issued(FIRST, holder_id=HOLDER),
        samples.credential_issued(SECOND, holder_id=HOLDER),
        models.CredentialRevoked(credential_id=SECOND, reason="fraud", **COMMON),
        models.CredentialSuspended(credential_id=PENDING, **COMMON),
    ):
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
        "pathways": [],
    }


async def test_a_foreign_portfolio_cursor_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/holders/{HOLDER}/credentials?cursor=abc")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "path", ["/v1/search/credentials", "/v1/search/credentials?competency=FA-1"]
)
async def test_the_search_over_every_credential_is_gone(
    client: httpx.AsyncClient, path: str
) -> None:
    # Retired (#13): it listed credentials whose holders never consented; `GET /v1/search`
    # finds consenting ones only.
    response = await client.get(path)
    assert response.status_code == 404, response.text
    assert "/v1/search/credentials" not in (await client.get("/openapi.json")).json()["paths"]


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


SOON, LAPSED, OLD, NEW = (f"urn:uuid:00000000-0000-4000-8000-00000000001{n}" for n in range(4))
RENEWAL_JSON = {"url": samples.RENEWAL.url, "text": samples.RENEWAL.text}


def expiring(credential_id: str) -> models.CredentialExpiring:
    return models.CredentialExpiring(
        credential_id=credential_id,
        valid_until=samples.VALID_UNTIL,
        lead_days=30,
        renewal=samples.RENEWAL,
        **COMMON,
    )


@pytest.fixture
async def renewals() -> AsyncIterator[httpx.AsyncClient]:
    """Expiring soon (SOON), expired after its notice (LAPSED), OLD superseded by NEW."""
    async for http in client_over(
        *(samples.credential_issued(c, holder_id=HOLDER) for c in (SOON, LAPSED, OLD, NEW)),
        expiring(SOON),
        expiring(LAPSED),
        models.CredentialExpired(credential_id=LAPSED, valid_until=samples.VALID_UNTIL, **COMMON),
        expiring(OLD),
        models.CredentialRevoked(
            credential_id=OLD,
            reason=models.REVOCATION_REASON_SUPERSEDED,
            superseded_by=NEW,
            **COMMON,
        ),
    ):
        yield http


async def get(client: httpx.AsyncClient, path: str) -> dict[str, object]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_credential_expiring_soon_shows_the_notice_and_its_renewal(
    renewals: httpx.AsyncClient,
) -> None:
    body = await get(renewals, f"/v1/credentials/{SOON}")
    assert body["expires_soon"] == {
        "valid_until": "2028-01-15T09:00:00Z",
        "noticed_at": "2027-12-16T09:04:00Z",
        "lead_days": 30,
        "renewal": RENEWAL_JSON,
    }
    assert (body["status"], body["renewal"], body["supersedes"]) == ("active", RENEWAL_JSON, [])
    assert "expiring" not in body


async def test_an_expired_credential_shows_its_renewal_but_no_notice(
    renewals: httpx.AsyncClient,
) -> None:
    body = await get(renewals, f"/v1/credentials/{LAPSED}")
    assert (body["status"], body["expires_soon"], body["renewal"]) == (
        "expired",
        None,
        RENEWAL_JSON,
    )


async def test_portfolio_lines_say_when_a_credential_expires_soon(
    renewals: httpx.AsyncClient,
) -> None:
    body = await get(renewals, f"/v1/holders/{HOLDER}/credentials")
    lines = body["credentials"]
    assert isinstance(lines, list)
    assert {line["id"]: line["expires_soon"] for line in lines} == {
        SOON: "2028-01-15T09:00:00Z",
        LAPSED: None,
        OLD: None,
        NEW: None,
    }


async def test_a_superseded_credential_and_its_replacement_name_each_other(
    renewals: httpx.AsyncClient,
) -> None:
    old = await get(renewals, f"/v1/credentials/{OLD}")
    new = await get(renewals, f"/v1/credentials/{NEW}")
    assert old["revocation"] == {
        "reason": "superseded",
        "superseded_by": NEW,
        "revoked_at": "2027-12-16T09:08:00Z",
    }
    # Revoked: its expiring notice and renewal concern nobody any more.
    assert (old["expires_soon"], old["renewal"], old["supersedes"]) == (None, None, [])
    assert (new["status"], new["supersedes"]) == ("active", [OLD])

    old_check = await get(renewals, f"/v1/credentials/{OLD}/verification")
    new_check = await get(renewals, f"/v1/credentials/{NEW}/verification")
    assert (old_check["superseded_by"], old_check["supersedes"]) == (NEW, [])
    assert (new_check["superseded_by"], new_check["supersedes"]) == (None, [OLD])


async def test_the_openapi_document_describes_expiry_renewal_and_supersession(
    renewals: httpx.AsyncClient,
) -> None:
    schemas = (await renewals.get("/openapi.json")).json()["components"]["schemas"]
    assert {"expires_soon", "renewal", "supersedes"} <= set(schemas["CredentialView"]["properties"])
    assert "expiring" not in schemas["CredentialView"]["properties"]
    assert {"lead_days", "renewal"} <= set(schemas["ExpiresSoon"]["properties"])
    assert {"superseded_by", "supersedes"} <= set(schemas["Verification"]["properties"])
    assert "expires_soon" in schemas["CredentialSummary"]["properties"]
