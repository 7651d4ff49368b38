"""The HTTP routes over fakes: auth, bodies, status codes, problem+json, ids with colons."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from credreg_revocation.adapters.fakes import (
    InMemoryCredentialIssuer,
    InMemoryCredentialRepository,
    InMemoryExpiryPolicies,
    InMemoryExpirySchedule,
)
from credreg_revocation.bootstrap import build_app
from credreg_revocation.domain import CredentialRecord
from credreg_revocation.ports import Adapters
from credreg_revocation.projection import OwnershipProjection
from credreg_revocation.settings import RevocationSettings
from credreg_shared.api_keys import InMemoryInstitutionKeys, InstitutionKeysProjection
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events import CREDENTIALS_TOPIC, models, samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging import InMemoryPublisher

CREDENTIAL = "urn:uuid:0b7e6f0e-7c1a-4c55-9a55-2f0d3c1e9a10"
REPLACEMENT = "urn:uuid:0b7e6f0e-7c1a-4c55-9a55-2f0d3c1e9a11"
OWNER, OTHER = samples.SAMPLE_ISSUER, "did:web:other-university.example"
AS_OWNER = {"Authorization": "Bearer key-owner"}
AS_OTHER = {"Authorization": "Bearer key-other"}
SETTINGS = RevocationSettings(
    api_keys={"key-owner": OWNER, "key-other": OTHER}, topic_namespace="unit."
)
TOPIC = SETTINGS.topic(CREDENTIALS_TOPIC)


@dataclass
class Api:
    client: httpx.AsyncClient
    credentials: InMemoryCredentialRepository
    publisher: InMemoryPublisher
    keys: InMemoryInstitutionKeys

    async def issue(self, credential_id: str, holder: str = samples.SAMPLE_HOLDER) -> None:
        """The view hears of a credential issued by OWNER to `holder`."""
        data = samples.credential_issued(credential_id, holder)
        await OwnershipProjection(self.credentials).on_issued(new_envelope(data, source="urn:i"))

    async def post(self, action: str, body: Any = None, headers: Any = None) -> httpx.Response:
        return await self.client.post(
            f"/v1/credentials/{CREDENTIAL}/{action}",
            json=body,
            headers=AS_OWNER if headers is None else headers,
        )


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    credentials, publisher = InMemoryCredentialRepository(), InMemoryPublisher()
    issued = new_envelope(samples.credential_issued(CREDENTIAL), source="urn:issuer")
    await OwnershipProjection(credentials).on_issued(issued)
    keys = InMemoryInstitutionKeys()
    app = build_app(
        SETTINGS,
        fakes=Adapters(
            credentials=credentials,
            publisher=publisher,
            keys=keys,
            schedule=InMemoryExpirySchedule(),
            policies=InMemoryExpiryPolicies(),
            issuer=InMemoryCredentialIssuer(),
        ),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://revocation") as client:
        yield Api(client, credentials, publisher, keys)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_owner_revokes_a_urn_id_and_gets_202_with_the_event_id(api: Api) -> None:
    await api.issue(REPLACEMENT)
    response = await api.post("revocation", {"reason": "superseded", "superseded_by": REPLACEMENT})
    assert response.status_code == 202, response.text
    [event] = api.publisher.envelopes(TOPIC)
    assert response.json() == {"id": CREDENTIAL, "status": "revoked", "event_id": event.id}
    assert event.data_as(models.CredentialRevoked).superseded_by == REPLACEMENT
    again = await api.post("revocation", {"reason": "again"})
    assert "already revoked" in assert_problem(again, 409)["detail"]
    assert len(api.publisher.envelopes(TOPIC)) == 1


@pytest.mark.parametrize(
    ("replacement", "detail"),
    [
        (None, "is known here: issue the replacement first"),
        (CREDENTIAL, "cannot supersede itself"),
        ("did:example:someone-else", "belongs to another holder"),
    ],
    ids=["unknown", "itself", "another-holder"],
)
async def test_a_replacement_that_cannot_supersede_is_a_422_and_nothing_changes(
    api: Api, replacement: str | None, detail: str
) -> None:
    target = replacement or "urn:uuid:never-issued"
    if replacement == "did:example:someone-else":
        target = REPLACEMENT
        await api.issue(REPLACEMENT, holder="did:example:someone-else")
    response = await api.post("revocation", {"reason": "superseded", "superseded_by": target})
    assert detail in assert_problem(response, 422)["detail"]
    assert api.publisher.records == []
    assert api.credentials.status_of(CREDENTIAL) == "active"


async def test_refusals_are_problems_and_change_nothing(api: Api) -> None:
    assert_problem(await api.post("revocation", {"reason": "x"}, headers={}), 401)
    assert_problem(await api.post("revocation", {"reason": "x"}, headers=AS_OTHER), 403)
    unknown = await api.client.post(
        "/v1/credentials/urn:uuid:unknown/revocation", json={"reason": "x"}, headers=AS_OWNER
    )
    assert_problem(unknown, 404)
    assert api.publisher.records == []
    assert api.credentials.status_of(CREDENTIAL) == "active"


@pytest.mark.parametrize(
    "body",
    [None, {}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "x", "extra": 1}],
    ids=["no-body", "no-reason", "empty", "too-long", "unknown-field"],
)
async def test_invalid_revocation_bodies_are_422(api: Api, body: Any) -> None:
    assert_problem(await api.post("revocation", body), 422)
    assert api.publisher.records == []


async def test_broker_down_is_503_and_nothing_changes(api: Api) -> None:
    api.publisher.fail_with = PublishUnavailable("the event log did not acknowledge")
    problem = assert_problem(await api.post("revocation", {"reason": "x"}), 503)
    assert "no change is confirmed" in problem["detail"]
    assert api.credentials.status_of(CREDENTIAL) == "active"


async def test_database_down_is_503(api: Api) -> None:
    class UnreachableCredentials(InMemoryCredentialRepository):
        async def get(self, credential_id: str) -> CredentialRecord | None:
            raise StorageUnavailable("the database is unavailable (AutoReconnect)")

    app = build_app(
        SETTINGS,
        fakes=Adapters(
            credentials=UnreachableCredentials(),
            publisher=api.publisher,
            keys=api.keys,
            schedule=InMemoryExpirySchedule(),
            policies=InMemoryExpiryPolicies(),
            issuer=InMemoryCredentialIssuer(),
        ),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://revocation") as client:
        down = await client.post(
            f"/v1/credentials/{CREDENTIAL}/suspension", json=None, headers=AS_OWNER
        )
    assert_problem(down, 503)
    assert api.publisher.records == []


async def test_suspend_then_reinstate_with_and_without_a_body(api: Api) -> None:
    suspended = await api.post("suspension", {"reason": "under review"})
    assert suspended.status_code == 202, suspended.text
    assert suspended.json()["status"] == "suspended"
    assert_problem(await api.post("suspension"), 409)
    reinstated = await api.post("reinstatement")
    assert reinstated.status_code == 202, reinstated.text
    assert reinstated.json()["status"] == "active"
    assert_problem(await api.post("reinstatement", headers=AS_OTHER), 403)
    types = [event.event_type for event in api.publisher.envelopes(TOPIC)]
    assert types == [models.CredentialSuspended.event_type, models.CredentialReinstated.event_type]


async def test_openapi_documents_the_lifecycle_routes(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    for action in ("revocation", "suspension", "reinstatement"):
        responses = paths[f"/v1/credentials/{{credential_id}}/{action}"]["post"]["responses"]
        assert {"202", "403", "404", "409", "503"} <= set(responses)
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}


def key_event(kind: type[models.ApiKeyEvent], key: str, **fields: Any) -> Any:
    """An API-key event of the owner, as the issuer announces it."""
    data = kind(
        institution_id=OWNER,
        key_id="k1",
        digest=hashlib.sha256(key.encode()).hexdigest(),
        **fields,
    )
    return new_envelope(data, source="urn:issuer")


async def test_a_key_kept_by_the_issuer_revokes_until_it_is_revoked_itself(api: Api) -> None:
    projection = InstitutionKeysProjection(api.keys)
    kept = {"Authorization": "Bearer crk_kept"}
    assert_problem(await api.post("suspension", {}, headers=kept), 401)  # not announced yet
    await projection.on_issued(key_event(models.ApiKeyIssued, "crk_kept", scopes=("revoke",)))
    assert (await api.post("suspension", {}, headers=kept)).status_code == 202
    await projection.on_revoked(key_event(models.ApiKeyRevoked, "crk_kept"))
    refused = assert_problem(await api.post("reinstatement", {}, headers=kept), 401)
    assert "revoked" in refused["detail"]


async def test_a_kept_key_without_the_revoke_scope_is_a_403(api: Api) -> None:
    await InstitutionKeysProjection(api.keys).on_issued(
        key_event(models.ApiKeyIssued, "crk_issue_only", scopes=("issue", "read"))
    )
    refused = assert_problem(
        await api.post("suspension", {}, headers={"Authorization": "Bearer crk_issue_only"}), 403
    )
    assert "'revoke' scope" in refused["detail"]
    assert api.publisher.envelopes(TOPIC) == []
