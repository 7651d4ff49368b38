"""Who may read what in the registry: holders their own (holder token), institutions what they
issued (API key with the read scope), nobody else; 401, 403 and 404 chosen so that a stranger
learns nothing of what exists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from credreg_registry.adapters.fakes import InMemoryChallenges, InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_shared.api_keys import InMemoryInstitutionKeys, KeptApiKey
from credreg_shared.auth import key_digest
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging.handlers import ConsumedEvent

ALICE, BOB = "alice@uni-a.example", "bob@uni-a.example"
UNI_A, UNI_B = samples.SAMPLE_ISSUER, "did:web:uni-b.example"
FROM_A, FROM_B, BOBS = "urn:uuid:a-1", "urn:uuid:b-1", "urn:uuid:a-2"
KEYS = {"key-a": UNI_A, "key-b": UNI_B}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Registry:
    http: httpx.AsyncClient
    minter: HolderTokenMinter
    keys: InMemoryInstitutionKeys

    def holder(self, holder_id: str) -> dict[str, str]:
        return bearer(self.minter.mint(holder_id, authenticated_by="did")[0])


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    view = InMemoryView()
    issued = [
        samples.credential_issued(FROM_A, ALICE),
        samples.credential_issued(FROM_B, ALICE).model_copy(update={"issuer_id": UNI_B}),
        samples.credential_issued(BOBS, BOB),
    ]
    await CredentialProjection(view).apply(
        [
            ConsumedEvent(new_envelope(data, source="urn:t"), "credreg.credentials", 0, n)
            for n, data in enumerate(issued)
        ]
    )
    token_key = Ed25519KeyPair.generate()
    settings = RegistrySettings(api_keys=KEYS, holder_token_key=token_key.secret_multikey)
    keys = InMemoryInstitutionKeys()
    app = build_app(
        settings,
        fakes=Adapters(documents=view, store=view, challenges=InMemoryChallenges(), keys=keys),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
        yield Registry(http, HolderTokenMinter(token_key), keys)


async def status(registry: Registry, path: str, headers: dict[str, str] | None = None) -> int:
    return (await registry.http.get(path, headers=headers)).status_code


async def test_a_credential_is_its_holders_and_its_issuers_only(registry: Registry) -> None:
    path = f"/v1/credentials/{FROM_A}"
    assert await status(registry, path) == 401
    assert await status(registry, path, bearer("no-such-key")) == 401
    assert await status(registry, path, registry.holder(ALICE)) == 200
    assert await status(registry, path, bearer("key-a")) == 200
    # Strangers get the answer of a credential that does not exist.
    assert await status(registry, path, registry.holder(BOB)) == 404
    assert await status(registry, path, bearer("key-b")) == 404
    assert await status(registry, "/v1/credentials/urn:uuid:none", bearer("key-b")) == 404
    shown = (await registry.http.get(path, headers=registry.holder(ALICE))).json()
    assert shown["holder_id"] == ALICE


async def test_the_public_verifies_without_learning_the_holder(registry: Registry) -> None:
    answer = await registry.http.get(f"/v1/credentials/{FROM_A}/verification")
    assert answer.status_code == 200
    assert ALICE not in answer.text


async def test_a_portfolio_is_its_holders_and_each_institution_sees_its_own(
    registry: Registry,
) -> None:
    path = f"/v1/holders/{ALICE}/credentials"
    assert await status(registry, path) == 401
    assert await status(registry, path, registry.holder(BOB)) == 403
    mine = (await registry.http.get(path, headers=registry.holder(ALICE))).json()
    assert sorted(c["id"] for c in mine["credentials"]) == [FROM_A, FROM_B]
    for key, own in (("key-a", FROM_A), ("key-b", FROM_B)):
        page = (await registry.http.get(path, headers=bearer(key))).json()
        assert [c["id"] for c in page["credentials"]] == [own]


async def test_an_expired_or_forged_holder_token_is_a_401(registry: Registry) -> None:
    stale = HolderTokenMinter(
        registry.minter.key, clock=lambda: datetime.now(UTC) - timedelta(hours=1)
    )
    path = f"/v1/holders/{ALICE}/credentials"
    assert await status(registry, path, bearer(stale.mint(ALICE, authenticated_by="did")[0])) == 401
    forged = HolderTokenMinter(Ed25519KeyPair.generate()).mint(ALICE, authenticated_by="did")[0]
    assert await status(registry, path, bearer(forged)) == 401


async def test_an_institution_mints_tokens_for_its_own_learners_only(registry: Registry) -> None:
    minted = await registry.http.post(f"/v1/holders/{ALICE}/tokens", headers=bearer("key-a"))
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    page = await registry.http.get(f"/v1/holders/{ALICE}/credentials", headers=bearer(token))
    assert sorted(c["id"] for c in page.json()["credentials"]) == [FROM_A, FROM_B]
    # uni-b issued nothing to Bob: it cannot vouch for him.
    refused = await registry.http.post(f"/v1/holders/{BOB}/tokens", headers=bearer("key-b"))
    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await registry.http.post(f"/v1/holders/{ALICE}/tokens")).status_code == 401
    as_holder = await registry.http.post(
        f"/v1/holders/{ALICE}/tokens", headers=registry.holder(ALICE)
    )
    assert as_holder.status_code == 403


async def test_a_key_kept_by_the_issuer_reads_only_with_the_read_scope(
    registry: Registry,
) -> None:
    digest = key_digest("kept-read").hex()
    await registry.keys.issued(digest, KeptApiKey(institution=UNI_A, scopes=frozenset({"read"})))
    narrow = key_digest("kept-issue").hex()
    await registry.keys.issued(narrow, KeptApiKey(institution=UNI_A, scopes=frozenset({"issue"})))
    path = f"/v1/credentials/{FROM_A}"
    assert await status(registry, path, bearer("kept-read")) == 200
    assert await status(registry, path, bearer("kept-issue")) == 403
    await registry.keys.revoked(digest, UNI_A)
    assert await status(registry, path, bearer("kept-read")) == 401
