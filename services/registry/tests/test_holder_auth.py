"""DID authentication over fakes: a wallet signs the challenge with its did:key (or a did:web
key) and gets a holder token; used, expired, foreign and forged proofs are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from credreg_registry.adapters.fakes import InMemoryChallenges, InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.holder_auth import (
    AUDIENCE,
    AuthenticationFailed,
    HolderAuthentication,
    NotADid,
    TokensNotConfigured,
)
from credreg_registry.ports import Adapters
from credreg_registry.settings import RegistrySettings
from credreg_shared.credentials.dids import did_key_for, did_web_document
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.holder_tokens import HolderTokenMinter, HolderTokenVerifier

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WEB_DID = "did:web:wallet.example:alice"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Documents:
    """A did:web document source that knows one document."""

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents
        self.asked: list[str] = []

    async def get_json(self, url: str) -> dict[str, Any]:
        self.asked.append(url)
        return self.documents[url]


def proof(key: Ed25519KeyPair, method: str, challenge: str, audience: str = AUDIENCE) -> str:
    """The wallet's signature of a challenge."""
    return jwt.encode(
        {"challenge": challenge, "aud": audience},
        key.private_key,
        algorithm="EdDSA",
        headers={"kid": method},
    )


class Setup:
    def __init__(self) -> None:
        self.clock = Clock()
        self.token_key = Ed25519KeyPair.generate()
        self.wallet = Ed25519KeyPair.generate()
        self.did = did_key_for(self.wallet.public_key_bytes)
        self.method = f"{self.did}#{self.wallet.public_multikey}"
        web_document = did_web_document(WEB_DID, {"key-1": self.wallet.public_key_bytes})
        self.documents = Documents({"https://wallet.example/alice/did.json": web_document})
        self.auth = HolderAuthentication(
            challenges=InMemoryChallenges(),
            minter=HolderTokenMinter(self.token_key, clock=self.clock),
            documents=self.documents,
            clock=self.clock,
        )
        self.verifier = HolderTokenVerifier([self.token_key.public_multikey], clock=self.clock)


@pytest.fixture
def setup() -> Setup:
    return Setup()


async def test_a_did_key_holder_gets_a_token_for_its_signed_challenge(setup: Setup) -> None:
    issued = await setup.auth.challenge(setup.did)
    assert issued.expires_at == T0 + timedelta(minutes=5)
    token = await setup.auth.token(
        issued.challenge, proof(setup.wallet, setup.method, issued.challenge)
    )
    found = setup.verifier.check(token.token)
    assert (found.holder_id, found.authenticated_by) == (setup.did, "did")


async def test_a_did_web_holder_is_checked_against_its_document(setup: Setup) -> None:
    issued = await setup.auth.challenge(WEB_DID)
    signed = proof(setup.wallet, f"{WEB_DID}#key-1", issued.challenge)
    token = await setup.auth.token(issued.challenge, signed)
    assert setup.verifier.check(token.token).holder_id == WEB_DID
    assert setup.documents.asked == ["https://wallet.example/alice/did.json"]


async def test_a_challenge_serves_once_and_not_after_it_expires(setup: Setup) -> None:
    issued = await setup.auth.challenge(setup.did)
    signed = proof(setup.wallet, setup.method, issued.challenge)
    await setup.auth.token(issued.challenge, signed)
    with pytest.raises(AuthenticationFailed, match="already used"):
        await setup.auth.token(issued.challenge, signed)
    late = await setup.auth.challenge(setup.did)
    setup.clock.now = late.expires_at
    with pytest.raises(AuthenticationFailed, match="expired"):
        await setup.auth.token(late.challenge, proof(setup.wallet, setup.method, late.challenge))


@pytest.mark.parametrize("forgery", ["other key", "other did", "other challenge", "audience"])
async def test_forged_proofs_are_refused(setup: Setup, forgery: str) -> None:
    issued = await setup.auth.challenge(setup.did)
    stranger = Ed25519KeyPair.generate()
    stranger_method = f"{did_key_for(stranger.public_key_bytes)}#{stranger.public_multikey}"
    signed = {
        "other key": proof(stranger, setup.method, issued.challenge),
        "other did": proof(stranger, stranger_method, issued.challenge),
        "other challenge": proof(setup.wallet, setup.method, "another-challenge"),
        "audience": proof(setup.wallet, setup.method, issued.challenge, audience="urn:x"),
    }[forgery]
    with pytest.raises(AuthenticationFailed):
        await setup.auth.token(issued.challenge, signed)


async def test_only_dids_are_challenged_and_only_when_configured(setup: Setup) -> None:
    with pytest.raises(NotADid):
        await setup.auth.challenge("alice@uni.example")
    unconfigured = HolderAuthentication(
        challenges=InMemoryChallenges(), minter=None, documents=None
    )
    with pytest.raises(TokensNotConfigured):
        await unconfigured.challenge(setup.did)


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, Ed25519KeyPair]]:
    token_key = Ed25519KeyPair.generate()
    settings = RegistrySettings(holder_token_key=token_key.secret_multikey)
    view = InMemoryView()
    app = build_app(
        settings, fakes=Adapters(documents=view, store=view, challenges=InMemoryChallenges())
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
        yield http, token_key


async def test_the_routes_answer_a_token_and_problems(
    client: tuple[httpx.AsyncClient, Ed25519KeyPair],
) -> None:
    http, token_key = client
    wallet = Ed25519KeyPair.generate()
    did = did_key_for(wallet.public_key_bytes)
    asked = await http.post("/v1/holders/auth/challenge", json={"holder_id": did})
    assert asked.status_code == 201, asked.text
    challenge = asked.json()
    assert challenge["audience"] == AUDIENCE
    signed = proof(wallet, f"{did}#{wallet.public_multikey}", challenge["challenge"])
    answer = await http.post(
        "/v1/holders/auth/token", json={"challenge": challenge["challenge"], "proof": signed}
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert HolderTokenVerifier([token_key.public_multikey]).check(token).holder_id == did
    again = await http.post(
        "/v1/holders/auth/token", json={"challenge": challenge["challenge"], "proof": signed}
    )
    assert again.status_code == 401
    assert again.headers["content-type"].startswith("application/problem+json")
    not_a_did = await http.post("/v1/holders/auth/challenge", json={"holder_id": "a@b.example"})
    assert not_a_did.status_code == 422


async def test_without_a_key_the_routes_say_so_with_503() -> None:
    view = InMemoryView()
    app = build_app(
        RegistrySettings(),
        fakes=Adapters(documents=view, store=view, challenges=InMemoryChallenges()),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registry"
    ) as http:
        answer = await http.post("/v1/holders/auth/challenge", json={"holder_id": "did:key:z6Mkx"})
    assert answer.status_code == 503
