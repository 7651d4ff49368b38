"""Who may subscribe to what, and see which subscriptions: holders (holder tokens) their own,
institutions (API keys) their credentials'; strangers get 401, 403 or 404; owners are bounded
in how many subscriptions they keep and create in a minute."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from credreg_notifier.adapters.fakes import (
    InMemoryDeliveries,
    InMemoryOwnerQuotas,
    InMemorySubscriptions,
    RecordedOutcomes,
    ScriptedSender,
    StaticWebhookTargets,
)
from credreg_notifier.bootstrap import build_app
from credreg_notifier.domain import SubscribingTooFast, SubscriptionRequest
from credreg_notifier.ports import Adapters
from credreg_notifier.settings import NotifierSettings
from credreg_notifier.use_cases import Limits, Subscriptions
from credreg_shared.callers import Caller
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.holder_tokens import HolderTokenMinter

TOKEN_KEY = Ed25519KeyPair.generate()
UNI = "did:web:uni.example"
URL = "https://93.184.215.14/hook"
SETTINGS = NotifierSettings(
    holder_token_key=TOKEN_KEY.secret_multikey,
    api_keys={"key-uni": UNI, "key-other": "did:web:other.example"},
    subscriptions_per_owner=2,
)


def as_holder(holder_id: str) -> dict[str, str]:
    token, _ = HolderTokenMinter(TOKEN_KEY).mint(holder_id, authenticated_by="did")
    return {"Authorization": f"Bearer {token}"}


AS_UNI = {"Authorization": "Bearer key-uni"}
AS_OTHER = {"Authorization": "Bearer key-other"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    adapters = Adapters(
        subscriptions=InMemorySubscriptions(),
        deliveries=InMemoryDeliveries(),
        targets=StaticWebhookTargets(allow_private=False),
        sender=ScriptedSender(),
        outcomes=RecordedOutcomes(),
        quotas=InMemoryOwnerQuotas(),
    )
    transport = httpx.ASGITransport(app=build_app(SETTINGS, fakes=adapters))
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as http:
        yield http


async def subscribe(
    client: httpx.AsyncClient, headers: dict[str, str] | None, **target: str
) -> httpx.Response:
    return await client.post("/v1/subscriptions", json={**target, "url": URL}, headers=headers)


async def test_nobody_gets_in_without_a_token_or_a_key(client: httpx.AsyncClient) -> None:
    assert (await subscribe(client, None, holder_id="alice")).status_code == 401
    for method, path in (
        ("GET", "/v1/subscriptions"),
        ("GET", "/v1/subscriptions/s-1"),
        ("DELETE", "/v1/subscriptions/s-1"),
        ("GET", "/v1/subscriptions/s-1/deliveries"),
    ):
        answer = await client.request(method, path)
        assert answer.status_code == 401, path
        assert answer.headers["content-type"].startswith("application/problem+json")
    forged = HolderTokenMinter(Ed25519KeyPair.generate()).mint("alice", authenticated_by="x")[0]
    headers = {"Authorization": f"Bearer {forged}"}
    assert (await subscribe(client, headers, holder_id="alice")).status_code == 401


async def test_a_holder_subscribes_for_itself_never_for_a_stranger(
    client: httpx.AsyncClient,
) -> None:
    assert (await subscribe(client, as_holder("alice"), holder_id="bob")).status_code == 403
    assert (await subscribe(client, as_holder("alice"), issuer_id=UNI)).status_code == 403
    own = await subscribe(client, as_holder("alice"), holder_id="alice")
    assert own.status_code == 201, own.text
    assert (await subscribe(client, as_holder("alice"), credential_id="urn:c")).status_code == 201


async def test_an_institution_subscribes_to_its_own_credentials(
    client: httpx.AsyncClient,
) -> None:
    assert (await subscribe(client, AS_UNI, issuer_id="did:web:other.example")).status_code == 403
    own = await subscribe(client, AS_UNI, issuer_id=UNI)
    assert own.status_code == 201, own.text
    assert own.json()["issuer_id"] == UNI


async def test_each_owner_sees_and_removes_its_own_subscriptions_only(
    client: httpx.AsyncClient,
) -> None:
    alice = (await subscribe(client, as_holder("alice"), holder_id="alice")).json()["id"]
    await subscribe(client, AS_UNI, issuer_id=UNI)
    listed = (await client.get("/v1/subscriptions", headers=as_holder("alice"))).json()
    assert [s["id"] for s in listed["subscriptions"]] == [alice]
    for headers in (as_holder("bob"), AS_UNI):
        for method, path in (
            ("GET", f"/v1/subscriptions/{alice}"),
            ("GET", f"/v1/subscriptions/{alice}/deliveries"),
            ("DELETE", f"/v1/subscriptions/{alice}"),
        ):
            assert (await client.request(method, path, headers=headers)).status_code == 404
    mine = await client.get(f"/v1/subscriptions/{alice}", headers=as_holder("alice"))
    assert mine.status_code == 200
    gone = await client.delete(f"/v1/subscriptions/{alice}", headers=as_holder("alice"))
    assert gone.status_code == 204


async def test_an_owner_keeps_at_most_its_quota_of_subscriptions(
    client: httpx.AsyncClient,
) -> None:
    made = [await subscribe(client, as_holder("alice"), holder_id="alice") for _ in range(2)]
    assert [m.status_code for m in made] == [201, 201]
    over = await subscribe(client, as_holder("alice"), holder_id="alice")
    assert over.status_code == 409
    assert over.headers["content-type"].startswith("application/problem+json")
    assert (await subscribe(client, as_holder("bob"), holder_id="bob")).status_code == 201
    first = made[0].json()["id"]
    await client.delete(f"/v1/subscriptions/{first}", headers=as_holder("alice"))
    assert (await subscribe(client, as_holder("alice"), holder_id="alice")).status_code == 201


async def test_an_owner_creates_at_most_so_many_subscriptions_a_minute() -> None:
    now = [datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)]
    subscriptions = InMemorySubscriptions()
    use_case = Subscriptions(
        subscriptions=subscriptions,
        deliveries=InMemoryDeliveries(),
        targets=StaticWebhookTargets(allow_private=False),
        quotas=InMemoryOwnerQuotas(),
        limits=Limits(per_owner=100, created_per_minute=3),
        clock=lambda: now[0],
    )
    alice = Caller(holder_id="alice")
    request = SubscriptionRequest(holder_id="alice", url=URL)
    for _ in range(3):
        made = await use_case.subscribe(request, alice)
        await use_case.unsubscribe(made["id"], alice)
    with pytest.raises(SubscribingTooFast):
        await use_case.subscribe(request, alice)
    assert subscriptions.documents == {}
    now[0] += timedelta(minutes=1)
    assert (await use_case.subscribe(request, alice))["holder_id"] == "alice"
