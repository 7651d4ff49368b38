"""The HTTP routes over fakes: subscribe, look up, list deliveries, unsubscribe, refusals."""

import contextlib
from collections.abc import AsyncIterator

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
from credreg_notifier.domain import PENDING, new_secret
from credreg_notifier.ports import Adapters
from credreg_notifier.settings import NotifierSettings
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.errors import StorageUnavailable
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.storage.ports import Document

BODY = '{"type":"org.credreg.credential.revoked.v1","timestamp":"2026-03-01T12:00:00Z","data":{}}'


def fakes(
    subscriptions: InMemorySubscriptions | None = None,
    deliveries: InMemoryDeliveries | None = None,
) -> Adapters:
    return Adapters(
        subscriptions=subscriptions or InMemorySubscriptions(),
        deliveries=deliveries or InMemoryDeliveries(),
        targets=StaticWebhookTargets(allow_private=False),
        sender=ScriptedSender(),
        outcomes=RecordedOutcomes(),
        quotas=InMemoryOwnerQuotas(),
    )


TOKEN_KEY = Ed25519KeyPair.generate()
SETTINGS = NotifierSettings(
    holder_token_key=TOKEN_KEY.secret_multikey,
    api_keys={"key-uni": "did:web:uni.example"},
    subscriptions_per_owner=3,
    subscriptions_created_per_minute=5,
)


def holder_token(holder_id: str) -> dict[str, str]:
    """The headers of a holder with a token of this notifier's deployment."""
    token, _ = HolderTokenMinter(TOKEN_KEY).mint(holder_id, authenticated_by="did")
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def client_for(adapters: Adapters, holder: str = "h") -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app over `adapters`, as the holder `holder` (its token by default)."""
    app = build_app(SETTINGS, fakes=adapters)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://notifier", headers=holder_token(holder)
    ) as client:
        yield client


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, InMemoryDeliveries]]:
    deliveries = InMemoryDeliveries()
    async with client_for(fakes(deliveries=deliveries)) as client:
        yield client, deliveries


async def test_subscribe_look_up_list_and_unsubscribe(
    api: tuple[httpx.AsyncClient, InMemoryDeliveries],
) -> None:
    client, _ = api
    created = await client.post(
        "/v1/subscriptions", json={"holder_id": "h", "url": "https://93.184.215.14/h"}
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["holder_id"] == "h"
    assert "credential_id" not in subscription
    assert subscription["secret"].startswith("whsec_")

    found = await client.get(f"/v1/subscriptions/{subscription['id']}")
    assert found.status_code == 200
    assert "secret" not in found.json()
    assert found.json()["url"] == "https://93.184.215.14/h"

    listed = await client.get(f"/v1/subscriptions/{subscription['id']}/deliveries")
    assert listed.json() == {"subscription_id": subscription["id"], "deliveries": []}

    assert (await client.delete(f"/v1/subscriptions/{subscription['id']}")).status_code == 204
    for gone in (
        await client.get(f"/v1/subscriptions/{subscription['id']}"),
        await client.delete(f"/v1/subscriptions/{subscription['id']}"),
        await client.get(f"/v1/subscriptions/{subscription['id']}/deliveries"),
    ):
        assert gone.status_code == 404
        assert gone.headers["content-type"] == "application/problem+json"
        assert gone.json()["detail"] == f"no subscription {subscription['id']!r}"


async def test_a_given_secret_is_kept(api: tuple[httpx.AsyncClient, InMemoryDeliveries]) -> None:
    client, _ = api
    secret = new_secret()
    created = await client.post(
        "/v1/subscriptions",
        json={"credential_id": "urn:uuid:c", "url": "https://93.184.215.14/h", "secret": secret},
    )
    assert created.status_code == 201
    assert created.json()["secret"] == secret
    assert created.json()["credential_id"] == "urn:uuid:c"


@pytest.mark.parametrize(
    "body",
    [
        {"holder_id": "h", "url": "http://93.184.215.14/h"},
        {"holder_id": "h", "url": "https://127.0.0.1:8443/h"},
        {"holder_id": "h", "url": "https://10.0.0.8/h"},
        {"holder_id": "h", "url": "https://93.184.215.14/h", "secret": "whsec_c2hvcnQ="},
        {"holder_id": "h", "credential_id": "c", "url": "https://93.184.215.14/h"},
        {"url": "https://93.184.215.14/h"},
        {"holder_id": "h", "url": "https://93.184.215.14/h", "extra": 1},
    ],
)
async def test_bad_subscriptions_are_422_problems(
    api: tuple[httpx.AsyncClient, InMemoryDeliveries], body: dict[str, object]
) -> None:
    client, _ = api
    refused = await client.post("/v1/subscriptions", json=body)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_refused_subscription_is_not_stored() -> None:
    subscriptions = InMemorySubscriptions()
    async with client_for(fakes(subscriptions)) as client:
        refused = await client.post(
            "/v1/subscriptions", json={"holder_id": "h", "url": "https://10.0.0.8/h"}
        )
        assert refused.status_code == 422
        assert refused.json()["detail"] == (
            "url resolves to a non-public address (10.0.0.8: private (10.0.0.0/8))"
        )
    assert subscriptions.documents == {}


@pytest.mark.parametrize(
    "address",
    ["::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1", "2001::1", "::a00:1", "fec0::1"],
)
async def test_a_name_resolving_to_a_transition_form_of_a_private_address_is_a_422(
    address: str,
) -> None:
    subscriptions = InMemorySubscriptions()
    adapters = Adapters(
        subscriptions=subscriptions,
        deliveries=InMemoryDeliveries(),
        targets=StaticWebhookTargets(allow_private=False, hosts={"w.example": [address]}),
        sender=ScriptedSender(),
        outcomes=RecordedOutcomes(),
        quotas=InMemoryOwnerQuotas(),
    )
    async with client_for(adapters) as client:
        refused = await client.post(
            "/v1/subscriptions", json={"holder_id": "h", "url": "https://w.example/h"}
        )
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith(f"url resolves to a non-public address ({address}")
    assert subscriptions.documents == {}


async def test_deliveries_show_status_attempts_and_last_error(
    api: tuple[httpx.AsyncClient, InMemoryDeliveries],
) -> None:
    client, deliveries = api
    created = await client.post(
        "/v1/subscriptions", json={"holder_id": "h", "url": "https://93.184.215.14/h"}
    )
    subscription_id = created.json()["id"]
    await deliveries.add_once(
        {
            "_id": "msg_1",
            "subscription_id": subscription_id,
            "event_id": "e-1",
            "type": "org.credreg.credential.revoked.v1",
            "body": BODY,
            "status": PENDING,
            "attempts": 2,
            "last_error": "HTTP 500",
            "next_attempt_at": None,
            "created_at": None,
        }
    )
    listed = (await client.get(f"/v1/subscriptions/{subscription_id}/deliveries")).json()
    [delivery] = listed["deliveries"]
    assert delivery["id"] == "msg_1"
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        PENDING,
        2,
        "HTTP 500",
    )
    assert "body" not in delivery


class UnreachableSubscriptions(InMemorySubscriptions):
    """The database is away."""

    async def get(self, subscription_id: str) -> Document | None:
        raise StorageUnavailable("the database is unavailable (ServerSelectionTimeoutError)")


async def test_a_database_outage_is_a_503_problem() -> None:
    async with client_for(fakes(UnreachableSubscriptions())) as client:
        answer = await client.get("/v1/subscriptions/s-1")
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
