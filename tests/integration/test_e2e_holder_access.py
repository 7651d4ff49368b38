"""A learner's portfolio over real processes: private to strangers, readable by the holder
after DID authentication (did:key), and by the institution for what it issued; an institution
mints a token for a learner without a DID."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest

from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.keys import Ed25519KeyPair

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Eventually = Callable[..., Awaitable[Any]]
UNI_A = {"Authorization": "Bearer key-uni-a"}
UNI_B = {"Authorization": "Bearer key-uni-b"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def issue(client: httpx.AsyncClient, stack: Any, holder_id: str) -> str:
    body = {
        "holder_id": holder_id,
        "achievement": {"name": "Data Literacy", "competencies": [{"name": "Read a chart"}]},
    }
    answer = await client.post(f"{stack.url('issuer')}/v1/credentials", json=body, headers=UNI_A)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_a_did_holder_reads_its_portfolio_and_strangers_cannot(
    stack: Any, eventually: Eventually
) -> None:
    wallet = Ed25519KeyPair.generate()
    holder = did_key_for(wallet.public_key_bytes)
    registry = stack.url("registry")
    async with httpx.AsyncClient(timeout=30) as client:
        credential = await issue(client, stack, holder)

        async def shown_to_issuer() -> Any:
            answer = await client.get(f"{registry}/v1/credentials/{credential}", headers=UNI_A)
            return answer.json() if answer.status_code == 200 else None

        await eventually(shown_to_issuer)
        portfolio = f"{registry}/v1/holders/{holder}/credentials"
        assert (await client.get(portfolio)).status_code == 401
        assert (await client.get(f"{registry}/v1/credentials/{credential}")).status_code == 401
        stranger = await client.get(f"{registry}/v1/credentials/{credential}", headers=UNI_B)
        assert stranger.status_code == 404

        asked = await client.post(
            f"{registry}/v1/holders/auth/challenge", json={"holder_id": holder}
        )
        assert asked.status_code == 201, asked.text
        challenge = asked.json()
        proof = jwt.encode(
            {"challenge": challenge["challenge"], "aud": challenge["audience"]},
            wallet.private_key,
            algorithm="EdDSA",
            headers={"kid": f"{holder}#{wallet.public_multikey}"},
        )
        token = await client.post(
            f"{registry}/v1/holders/auth/token",
            json={"challenge": challenge["challenge"], "proof": proof},
        )
        assert token.status_code == 200, token.text
        own = await client.get(portfolio, headers=bearer(token.json()["token"]))
        assert own.status_code == 200, own.text
        assert [c["id"] for c in own.json()["credentials"]] == [credential]
        other = await client.get(
            f"{registry}/v1/holders/did:example:{uuid.uuid4().hex}/credentials",
            headers=bearer(token.json()["token"]),
        )
        assert other.status_code == 403

        # The same token subscribes the holder's wallet at the notifier, for itself only.
        notifier = f"{stack.url('notifier')}/v1/subscriptions"
        wallet_url = "https://93.184.215.14/wallet"
        own = await client.post(
            notifier,
            json={"holder_id": holder, "url": wallet_url},
            headers=bearer(token.json()["token"]),
        )
        assert own.status_code == 201, own.text
        stranger_sub = await client.post(
            notifier,
            json={"holder_id": "did:example:someone-else", "url": wallet_url},
            headers=bearer(token.json()["token"]),
        )
        assert stranger_sub.status_code == 403
        assert (
            await client.post(notifier, json={"holder_id": holder, "url": wallet_url})
        ).status_code == 401
        listed = await client.get(notifier, headers=bearer(token.json()["token"]))
        assert [s["id"] for s in listed.json()["subscriptions"]] == [own.json()["id"]]


async def test_an_institution_mints_a_token_for_its_learner_without_a_did(
    stack: Any, eventually: Eventually
) -> None:
    learner = f"student-{uuid.uuid4().hex[:8]}@uni-a.example"
    registry = stack.url("registry")
    async with httpx.AsyncClient(timeout=30) as client:
        credential = await issue(client, stack, learner)

        async def minted() -> httpx.Response | None:
            answer = await client.post(f"{registry}/v1/holders/{learner}/tokens", headers=UNI_A)
            return answer if answer.status_code == 201 else None

        token = (await eventually(minted)).json()["token"]
        page = await client.get(
            f"{registry}/v1/holders/{learner}/credentials", headers=bearer(token)
        )
        assert [c["id"] for c in page.json()["credentials"]] == [credential]
        refused = await client.post(f"{registry}/v1/holders/{learner}/tokens", headers=UNI_B)
        assert refused.status_code == 404
