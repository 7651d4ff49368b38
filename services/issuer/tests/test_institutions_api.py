"""Institutions over fakes: the admin API, did:web documents, scoped API keys, signing, rotation."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from credreg_issuer.adapters.fakes import (
    InMemoryInstitutions,
    in_memory_adapters,
)
from credreg_issuer.bootstrap import build_app
from credreg_issuer.institutions import KeyringUnusable
from credreg_issuer.settings import IssuerSettings
from credreg_issuer.use_cases import ManageInstitutions
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.events import models
from credreg_shared.messaging import InMemoryPublisher

from .fixtures import body

ADMIN = {"Authorization": "Bearer admin-key-for-tests"}
HOST = "issuer.example"
DID = f"did:web:{HOST}:institutions:uni-a"
KEK = f"k1:{KeyEncryptionKeyring.generate_kek()}"


def settings(**changes: Any) -> IssuerSettings:
    values: dict[str, Any] = {
        "topic_namespace": "unit.",
        "admin_api_key": "admin-key-for-tests",
        "key_encryption_key": KEK,
        "did_web_host": HOST,
        **changes,
    }
    return IssuerSettings(**values)


@dataclass
class Admin:
    client: httpx.AsyncClient
    store: InMemoryInstitutions
    publisher: InMemoryPublisher

    async def create(self, **fields: Any) -> httpx.Response:
        payload = {"slug": "uni-a", "name": "University A", **fields}
        return await self.client.post("/v1/institutions", json=payload, headers=ADMIN)

    async def api_key(self, institution: str = DID, **fields: Any) -> str:
        response = await self.client.post(
            f"/v1/institutions/{institution}/api-keys", json=fields, headers=ADMIN
        )
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key

    async def issue(self, key: str) -> httpx.Response:
        return await self.client.post(
            "/v1/credentials", json=body(), headers={"Authorization": f"Bearer {key}"}
        )

    async def did_document(self) -> dict[str, Any]:
        response = await self.client.get("/institutions/uni-a/did.json")
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document


async def admin_for(config: IssuerSettings) -> AsyncIterator[Admin]:
    fakes = in_memory_adapters()
    store = fakes.institutions
    assert isinstance(store, InMemoryInstitutions)
    transport = httpx.ASGITransport(app=build_app(config, fakes=fakes))
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as client:
        assert isinstance(fakes.publisher, InMemoryPublisher)
        yield Admin(client, store, fakes.publisher)


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    async for made in admin_for(settings()):
        yield made


def verify(credential: dict[str, Any], did_document: dict[str, Any]) -> dict[str, Outcome]:
    report = verify_credential(credential, controller_documents={DID: did_document})
    return {check.name: check.outcome for check in report.checks}


async def test_an_institution_is_hosted_as_did_web_and_its_document_lists_its_key(
    admin: Admin,
) -> None:
    created = await admin.create()
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["id"] == DID
    assert view["hosted"] is True
    assert view["cryptosuite"] == "eddsa-rdfc-2022"
    assert view["verification_methods"] == [f"{DID}#key-1"]
    assert "sealed" not in created.text and "ciphertext" not in created.text
    document = await admin.did_document()
    assert document["id"] == DID
    assert [m["id"] for m in document["verificationMethod"]] == [f"{DID}#key-1"]
    assert document["assertionMethod"] == [f"{DID}#key-1"]
    downloaded = await admin.client.get(f"/v1/institutions/{DID}/did.json")
    assert downloaded.json() == document
    assert view["did_document_url"].endswith(f"/v1/institutions/{DID}/did.json")


async def test_an_institution_with_its_own_domain_downloads_its_document(admin: Admin) -> None:
    created = await admin.create(slug="own", did="did:web:registrar.uni-b.example")
    assert created.status_code == 201, created.text
    assert created.json()["hosted"] is False
    own = await admin.client.get("/v1/institutions/did:web:registrar.uni-b.example/did.json")
    assert own.json()["id"] == "did:web:registrar.uni-b.example"
    # Not hosted here: its slug resolves to nothing on this host.
    assert (await admin.client.get("/institutions/own/did.json")).status_code == 404


async def test_a_credential_signed_with_the_kept_key_verifies_against_the_served_document(
    admin: Admin,
) -> None:
    await admin.create()
    issued = await admin.issue(await admin.api_key(scopes=["issue"]))
    assert issued.status_code == 201, issued.text
    credential = issued.json()["credential"]
    assert credential["issuer"]["id"] == DID
    (proof,) = credential["proof"]
    assert proof["verificationMethod"] == f"{DID}#key-1"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    outcomes = verify(credential, await admin.did_document())
    assert outcomes["proof"] is Outcome.PASSED
    assert outcomes["issuer"] is Outcome.PASSED


async def test_rotation_signs_new_credentials_with_the_new_key_and_old_ones_still_verify(
    admin: Admin,
) -> None:
    await admin.create()
    key = await admin.api_key()
    before = (await admin.issue(key)).json()["credential"]
    rotated = await admin.client.post(f"/v1/institutions/{DID}/keys", headers=ADMIN)
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["active_key"] == "key-2"
    after = (await admin.issue(key)).json()["credential"]
    assert after["proof"][0]["verificationMethod"] == f"{DID}#key-2"
    document = await admin.did_document()
    assert [m["id"] for m in document["verificationMethod"]] == [f"{DID}#key-1", f"{DID}#key-2"]
    for credential in (before, after):
        outcomes = verify(credential, document)
        assert (outcomes["proof"], outcomes["issuer"]) == (Outcome.PASSED, Outcome.PASSED)


async def test_a_key_is_shown_once_listed_without_its_secret_and_revocable(admin: Admin) -> None:
    await admin.create()
    key = await admin.api_key(label="registrar system")
    listed = await admin.client.get(f"/v1/institutions/{DID}/api-keys", headers=ADMIN)
    assert listed.status_code == 200
    (shown,) = listed.json()
    assert shown["label"] == "registrar system" and shown["revoked_at"] is None
    assert key not in listed.text and "digest" not in shown
    assert key not in repr(admin.store.keys)  # stored as its SHA-256 only
    revoked = await admin.client.delete(
        f"/v1/institutions/{DID}/api-keys/{shown['id']}", headers=ADMIN
    )
    assert revoked.status_code == 204
    refused = await admin.issue(key)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "revoked" in refused.json()["detail"]


async def test_a_key_without_the_issue_scope_is_a_403(admin: Admin) -> None:
    await admin.create()
    refused = await admin.issue(await admin.api_key(scopes=["read"]))
    assert refused.status_code == 403
    assert "'issue' scope" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"slug": "Uni A", "name": "x"}, 422),
        ({"slug": "uni-b", "name": "x", "did": "https://uni-b.example"}, 422),
        ({"slug": "uni-b", "name": "x", "did": "did:key:z6Mk"}, 422),
        ({"slug": "uni-b"}, 422),
        ({"slug": "uni-a", "name": "again"}, 409),
    ],
    ids=["bad-slug", "url-not-did", "did-key", "no-name", "same-slug"],
)
async def test_bad_institutions_are_problems_and_create_nothing(
    admin: Admin, payload: dict[str, Any], status: int
) -> None:
    await admin.create()
    response = await admin.client.post("/v1/institutions", json=payload, headers=ADMIN)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert list(admin.store.institutions) == [DID]


async def test_unknown_institutions_and_keys_are_404_problems(admin: Admin) -> None:
    unknown = "did:web:nowhere.example"
    for method, path in [
        ("GET", f"/v1/institutions/{unknown}"),
        ("POST", f"/v1/institutions/{unknown}/keys"),
        ("POST", f"/v1/institutions/{unknown}/api-keys"),
        ("GET", f"/v1/institutions/{unknown}/did.json"),
        ("GET", "/institutions/nobody/did.json"),
    ]:
        response = await admin.client.request(method, path, headers=ADMIN)
        assert response.status_code == 404, (method, path, response.text)
    await admin.create()
    missing = await admin.client.delete(f"/v1/institutions/{DID}/api-keys/nope", headers=ADMIN)
    assert missing.status_code == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_admin_routes_need_the_admin_key(admin: Admin, headers: dict[str, str]) -> None:
    for method, path in [
        ("POST", "/v1/institutions"),
        ("GET", "/v1/institutions"),
        ("POST", f"/v1/institutions/{DID}/keys"),
        ("POST", f"/v1/institutions/{DID}/api-keys"),
        ("DELETE", f"/v1/institutions/{DID}/api-keys/k1"),
        ("POST", "/v1/key-encryption/reseal"),
    ]:
        response = await admin.client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path)
    assert admin.store.institutions == {}


async def test_without_an_admin_key_the_admin_routes_are_off() -> None:
    async for admin in admin_for(settings(admin_api_key=None)):
        response = await admin.create()
        assert response.status_code == 401
        assert "CREDREG_ADMIN_API_KEY" in response.json()["detail"]


def test_an_admin_key_without_a_key_encryption_key_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="CREDREG_KEY_ENCRYPTION_KEY is required"):
        settings(key_encryption_key=None)


@pytest.mark.parametrize("kek", ["no-colon", "k1:c2hvcnQ", "k1:!!!"])
def test_a_malformed_key_encryption_key_refuses_to_start(kek: str) -> None:
    with pytest.raises(ValidationError, match="CREDREG_KEY_ENCRYPTION_KEY is unusable") as error:
        settings(key_encryption_key=kek)
    assert kek not in str(error.value)


async def test_a_rotation_that_loses_the_compare_and_set_is_a_409_and_changes_nothing(
    admin: Admin,
) -> None:
    await admin.create()
    before = admin.store.institutions[DID]
    stale = before.keys[0].model_copy(update={"id": "key-9"})
    assert not await admin.store.add_key(DID, stale, replacing="key-0")

    async def another_rotation_won(*_args: Any, **_kwargs: Any) -> bool:
        return False

    admin.store.add_key = another_rotation_won  # type: ignore[method-assign]
    raced = await admin.client.post(f"/v1/institutions/{DID}/keys", headers=ADMIN)
    assert raced.status_code == 409
    assert raced.headers["content-type"].startswith("application/problem+json")
    assert admin.store.institutions[DID] == before


async def test_a_did_web_with_a_port_is_found_as_written_and_as_decoded() -> None:
    async for admin in admin_for(settings(did_web_host="localhost:8001")):
        created = await admin.create()
        did = created.json()["id"]
        assert did == "did:web:localhost%3A8001:institutions:uni-a"
        # curl decodes the %3A on the way; a client that escapes it sends %253A.
        for path in (did, did.replace("%3A", ":"), did.replace("%", "%25")):
            response = await admin.client.get(f"/v1/institutions/{path}", headers=ADMIN)
            assert response.status_code == 200, (path, response.text)
            assert response.json()["id"] == did
            # Keys belong to the institution as stored, however its id reached the route.
            made = await admin.client.post(f"/v1/institutions/{path}/api-keys", headers=ADMIN)
            assert made.json()["institution"] == did


async def test_api_keys_are_announced_on_the_log_by_digest_never_the_key(admin: Admin) -> None:
    await admin.create()
    key = await admin.api_key(scopes=["revoke"])
    listed = await admin.client.get(f"/v1/institutions/{DID}/api-keys", headers=ADMIN)
    key_id = listed.json()[0]["id"]
    await admin.client.delete(f"/v1/institutions/{DID}/api-keys/{key_id}", headers=ADMIN)
    events = [
        envelope.data
        for envelope in admin.publisher.envelopes()
        if isinstance(envelope.data, models.ApiKeyEvent)
    ]
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert events == [
        models.ApiKeyIssued(institution_id=DID, key_id=key_id, digest=digest, scopes=("revoke",)),
        models.ApiKeyRevoked(institution_id=DID, key_id=key_id, digest=digest),
    ]
    assert all(key not in repr(e) for e in events)


async def test_a_key_encryption_key_rotation_reseals_every_key_and_retires_the_old_one() -> None:
    old, new = (f"{n}:{KeyEncryptionKeyring.generate_kek()}" for n in ("k1", "k2"))
    fakes = in_memory_adapters()
    store = fakes.institutions
    assert isinstance(store, InMemoryInstitutions)

    def client_for(kek: str) -> tuple[FastAPI, httpx.AsyncClient]:
        app = build_app(settings(key_encryption_key=kek), fakes=fakes)
        transport = httpx.ASGITransport(app=app)
        return app, httpx.AsyncClient(transport=transport, base_url="http://issuer")

    _, before = client_for(old)
    async with before:
        await before.post("/v1/institutions", json={"slug": "uni-a", "name": "A"}, headers=ADMIN)
        await before.post(f"/v1/institutions/{DID}/keys", headers=ADMIN)
        key = (await before.post(f"/v1/institutions/{DID}/api-keys", headers=ADMIN)).json()
    # The new KEK first, the old one still there to open what it sealed.
    _, both = client_for(f"{new},{old}")
    async with both:
        resealed = await both.post("/v1/key-encryption/reseal", headers=ADMIN)
        assert resealed.json() == {"resealed": 2, "active_kek": "k2"}
        again = await both.post("/v1/key-encryption/reseal", headers=ADMIN)
        assert again.json()["resealed"] == 0
    assert {k.sealed.kek_id for k in store.institutions[DID].keys} == {"k2"}
    # The old KEK retired: the issuer starts and signs with the new one alone.
    app, after = client_for(new)
    async with after:
        await app.state.use_cases[ManageInstitutions].check_keyring()
        issued = await after.post(
            "/v1/credentials", json=body(), headers={"Authorization": f"Bearer {key['key']}"}
        )
        assert issued.status_code == 201, issued.text
        document = (await after.get("/institutions/uni-a/did.json")).json()
        assert verify(issued.json()["credential"], document)["proof"] is Outcome.PASSED
    stale, _client = client_for(old)
    async with _client:
        with pytest.raises(KeyringUnusable, match="cannot open"):
            await stale.state.use_cases[ManageInstitutions].check_keyring()
