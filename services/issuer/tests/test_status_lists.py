"""Status lists over fakes: one random entry per credential, signed lists, revocations flip bits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from credreg_issuer import use_cases
from credreg_issuer.adapters.fakes import InMemoryStatusLists, in_memory_adapters
from credreg_issuer.bootstrap import build_app
from credreg_issuer.settings import IssuerSettings
from credreg_issuer.status_lists import LIST_LENGTH
from credreg_issuer.use_cases import ManageStatusLists
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.events import models
from credreg_shared.events.cloudevents import new_envelope

from .fixtures import ADMIN, body, keeping_settings

DID = "did:web:issuer.example:institutions:uni-a"
BASE = "https://issuer.example"
LIST = f"{BASE}/v1/status-lists/uni-a-1"


@dataclass
class Issuer:
    app: FastAPI
    client: httpx.AsyncClient
    store: InMemoryStatusLists
    key: str = ""

    async def issue(self, idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = await self.client.post("/v1/credentials", json=body(), headers=headers)
        assert response.status_code == 201, response.text
        credential: dict[str, Any] = response.json()["credential"]
        return credential

    async def status_list(self, url: str = LIST) -> httpx.Response:
        return await self.client.get(url.removeprefix(BASE))

    async def revoke(self, credential: dict[str, Any]) -> None:
        revoked = models.CredentialRevoked(
            credential_id=credential["id"], issuer_id=DID, holder_id="did:example:ada", reason="x"
        )
        manager: ManageStatusLists = self.app.state.use_cases[ManageStatusLists]
        await manager.on_revoked(new_envelope(revoked, source="urn:test"))

    async def verify(self, credential: dict[str, Any]) -> dict[str, Outcome]:
        document = (await self.client.get("/institutions/uni-a/did.json")).json()
        status_list = (await self.status_list()).json()
        report = verify_credential(
            credential,
            controller_documents={DID: document},
            status_list_credentials={LIST: status_list},
        )
        return {check.name: check.outcome for check in report.checks}


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    settings = keeping_settings(status_list_base_url=BASE)
    fakes = in_memory_adapters()
    assert isinstance(fakes.status_lists, InMemoryStatusLists)
    app = build_app(settings, fakes=fakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as client:
        made = Issuer(app, client, fakes.status_lists)
        created = await client.post(
            "/v1/institutions", json={"slug": "uni-a", "name": "University A"}, headers=ADMIN
        )
        assert created.status_code == 201
        keys = await client.post(f"/v1/institutions/{DID}/api-keys", headers=ADMIN)
        made.key = keys.json()["key"]
        yield made


async def test_every_credential_carries_one_revocation_entry_at_a_random_index(
    issuer: Issuer,
) -> None:
    credentials = [await issuer.issue() for _ in range(200)]
    entries = [c["credentialStatus"] for c in credentials]
    assert all(isinstance(e, dict) for e in entries)  # one object: what the OB schema allows
    assert {e["statusPurpose"] for e in entries} == {"revocation"}
    assert {e["statusListCredential"] for e in entries} == {LIST}
    indices = [int(e["statusListIndex"]) for e in entries]
    assert len(set(indices)) == 200 and all(0 <= i < LIST_LENGTH for i in indices)
    assert indices != sorted(indices)  # drawn at random, not in issuance order
    assert issuer.store.lists["uni-a-1"].allocated == 200
    outcomes = await issuer.verify(credentials[0])
    assert outcomes["revocation"] is Outcome.PASSED
    assert outcomes["schema"] is Outcome.PASSED


async def test_a_retry_with_the_same_idempotency_key_keeps_the_entry(issuer: Issuer) -> None:
    first = await issuer.issue("same-key")
    again = await issuer.issue("same-key")
    assert first["credentialStatus"] == again["credentialStatus"]
    assert issuer.store.lists["uni-a-1"].allocated == 1


async def test_the_list_is_signed_cacheable_and_revalidated_by_etag(issuer: Issuer) -> None:
    credential = await issuer.issue()
    served = await issuer.status_list()
    assert served.status_code == 200
    assert served.headers["cache-control"] == "public, max-age=300"
    listed = served.json()
    assert listed["credentialSubject"]["ttl"] == 300_000
    assert listed["issuer"] == DID and listed["proof"][0]["verificationMethod"] == f"{DID}#key-1"
    unchanged = await issuer.client.get(
        "/v1/status-lists/uni-a-1", headers={"If-None-Match": served.headers["etag"]}
    )
    assert unchanged.status_code == 304
    assert (await issuer.status_list()).content == served.content  # deterministic
    await issuer.revoke(credential)
    changed = await issuer.client.get(
        "/v1/status-lists/uni-a-1", headers={"If-None-Match": served.headers["etag"]}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != served.headers["etag"]


async def test_a_revocation_sets_the_bit_once_and_only_that_credential_fails(
    issuer: Issuer,
) -> None:
    kept, revoked = await issuer.issue(), await issuer.issue()
    await issuer.revoke(revoked)
    version = issuer.store.lists["uni-a-1"].version
    await issuer.revoke(revoked)  # redelivered
    assert issuer.store.lists["uni-a-1"].version == version
    assert (await issuer.verify(revoked))["revocation"] is Outcome.FAILED
    assert (await issuer.verify(kept))["revocation"] is Outcome.PASSED
    # The list's own proof still holds after the change.
    assert (await issuer.verify(revoked))["proof"] is Outcome.PASSED


async def test_a_half_full_list_hands_over_to_the_next(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(use_cases, "ROLL_OVER_AT", 3)
    lists = [(await issuer.issue())["credentialStatus"]["statusListCredential"] for _ in range(5)]
    assert lists == [LIST] * 3 + [f"{BASE}/v1/status-lists/uni-a-2"] * 2
    assert (await issuer.status_list(lists[-1])).status_code == 200


async def test_an_unknown_list_is_a_404_problem(issuer: Issuer) -> None:
    response = await issuer.client.get("/v1/status-lists/nobody-1")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_credentials_of_institutions_from_settings_carry_no_entry() -> None:
    settings = IssuerSettings(topic_namespace="unit.", api_keys={"k": "did:web:old.example"})
    app = build_app(settings, fakes=in_memory_adapters())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as client:
        response = await client.post(
            "/v1/credentials", json=body(), headers={"Authorization": "Bearer k"}
        )
    assert response.status_code == 201
    assert "credentialStatus" not in response.json()["credential"]


async def test_a_half_full_list_is_claimed_without_meeting_a_held_index(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every other index is held already: a blind claim would meet one about every other time.
    held_before = {("uni-a-1", index): "urn:uuid:other" for index in range(0, LIST_LENGTH, 2)}
    issuer.store.claims.update(held_before)
    claimed: list[int] = []
    claim_many = issuer.store.claim_many

    async def recording(list_id: str, claims: Mapping[int, str]) -> set[int]:
        claimed.extend(claims)
        return await claim_many(list_id, claims)

    monkeypatch.setattr(issuer.store, "claim_many", recording)
    credentials = [await issuer.issue() for _ in range(20)]
    indices = [int(c["credentialStatus"]["statusListIndex"]) for c in credentials]
    assert all(index % 2 == 1 for index in indices)
    assert len(set(indices)) == 20
    assert claimed and all(index % 2 == 1 for index in claimed)  # no claim met a held index
