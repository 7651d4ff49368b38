"""`POST /v1/verify` over fakes: every check named, fetched material used, bad bodies refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.dids import did_web_document
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.samples import sample_micro_credential
from credreg_shared.credentials.verification import VerificationMaterial
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging.handlers import ConsumedEvent

ISSUER = "did:web:registrar.example.edu"
KEY = Ed25519KeyPair.generate()


class FetchedMaterial:
    """A `VerificationMaterialSource` that answers what a verifier would have fetched."""

    def __init__(self, material: VerificationMaterial) -> None:
        self.material = material
        self.asked: list[Any] = []

    async def fetch_for(self, credential: Any) -> VerificationMaterial:
        self.asked.append(credential)
        return self.material


def signed() -> dict[str, Any]:
    document = sample_micro_credential(issuer=ISSUER).to_document()
    credential: dict[str, Any] = add_proof(
        document, key_pair=KEY, verification_method=f"{ISSUER}#key-1"
    )
    return credential


async def client_with(
    source: FetchedMaterial, view: InMemoryView | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    view = view or InMemoryView()
    app = build_app(fakes=Adapters(documents=view, store=view, verification_material=source))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        yield client


@pytest.fixture
def resolved() -> FetchedMaterial:
    document = did_web_document(ISSUER, {"key-1": KEY.public_key_bytes})
    return FetchedMaterial(VerificationMaterial(controller_documents={ISSUER: document}))


@pytest.fixture
async def client(resolved: FetchedMaterial) -> AsyncIterator[httpx.AsyncClient]:
    async for made in client_with(resolved):
        yield made


def outcomes(answer: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["outcome"] for check in answer["checks"]}


async def test_a_good_credential_passes_with_its_issuers_fetched_document(
    client: httpx.AsyncClient, resolved: FetchedMaterial
) -> None:
    credential = signed()
    response = await client.post("/v1/verify", json=credential)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["verified"] is True
    assert answer["credential_id"] == credential["id"]
    assert outcomes(answer) == {
        "proof": "passed",
        "issuer": "passed",
        "validity": "passed",
        "revocation": "not-applicable",
        "suspension": "not-applicable",
        "schema": "passed",
        "registry": "not-applicable",  # this registry never saw it
    }
    assert answer["fetch_problems"] == []
    assert resolved.asked == [credential]


async def test_a_tampered_credential_is_200_not_verified_naming_the_proof(
    client: httpx.AsyncClient,
) -> None:
    forged = {**signed(), "name": "Master of Everything"}
    answer = (await client.post("/v1/verify", json=forged)).json()
    assert answer["verified"] is False
    assert outcomes(answer)["proof"] == "failed"


async def test_an_unresolvable_issuer_fails_the_proof_and_says_why() -> None:
    source = FetchedMaterial(
        VerificationMaterial(problems=[f"{ISSUER}: HTTP 404"]),
    )
    async for client in client_with(source):
        answer = (await client.post("/v1/verify", json=signed())).json()
        assert answer["verified"] is False
        assert outcomes(answer)["proof"] == "failed"
        assert answer["fetch_problems"] == [f"{ISSUER}: HTTP 404"]


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"not json", 422), (b"[1, 2]", 422), (b'{"a": "' + b"x" * 300_000 + b'"}', 413)],
    ids=["not-json", "not-object", "too-large"],
)
async def test_bad_bodies_are_problems(
    client: httpx.AsyncClient, resolved: FetchedMaterial, content: bytes, status: int
) -> None:
    response = await client.post(
        "/v1/verify", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert resolved.asked == []


async def test_a_suspension_in_this_registry_fails_the_registry_check(
    resolved: FetchedMaterial,
) -> None:
    credential = signed()
    view = InMemoryView()
    common = {"credential_id": credential["id"], "issuer_id": ISSUER, "holder_id": "did:example:a"}
    events = (
        samples.credential_issued(credential["id"], holder_id="did:example:a"),
        models.CredentialSuspended(**common, reason="under review"),
    )
    await CredentialProjection(view).apply(
        [
            ConsumedEvent(new_envelope(data, source="urn:test"), "credreg.credentials", 0, n)
            for n, data in enumerate(events)
        ]
    )
    async for client in client_with(resolved, view):
        answer = (await client.post("/v1/verify", json=credential)).json()
        assert outcomes(answer)["proof"] == "passed"
        assert outcomes(answer)["registry"] == "failed"
        assert answer["verified"] is False
        registry = next(c for c in answer["checks"] if c["name"] == "registry")
        assert registry["reason"] == "suspended in this registry"
