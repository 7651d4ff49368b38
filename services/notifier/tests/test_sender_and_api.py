"""The signed-webhook sender over a mock transport, and the HTTP routes over fakes."""

from collections.abc import AsyncIterator

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from credreg_notifier.adapters.memory import InMemoryDeliveries, InMemorySubscriptions
from credreg_notifier.adapters.webhooks import HttpxWebhookSender
from credreg_notifier.bootstrap import attach_subscriptions, routes_app
from credreg_notifier.deliveries import PENDING
from credreg_notifier.settings import NotifierSettings
from credreg_notifier.subscriptions import new_secret

BODY = '{"type":"org.credreg.credential.revoked.v1","timestamp":"2026-03-01T12:00:00Z","data":{}}'


def sender_answering(
    status: int, seen: list[httpx.Request], *, allow_private: bool = True
) -> HttpxWebhookSender:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return HttpxWebhookSender(client, timeout_seconds=2, allow_private=allow_private)


async def test_the_sender_posts_a_body_whose_signature_verifies() -> None:
    seen: list[httpx.Request] = []
    secret = new_secret()
    sender = sender_answering(204, seen)
    error = await sender.send(
        url="http://127.0.0.1:1/hook", secret=secret, message_id="msg_1", body=BODY
    )
    assert error is None
    [request] = seen
    assert request.headers["webhook-id"] == "msg_1"
    assert request.headers["content-type"] == "application/json"
    assert (
        Webhook(secret)
        .verify(request.content, dict(request.headers))["type"]
        .endswith("revoked.v1")
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(request.content, dict(request.headers))


async def test_a_non_2xx_answer_or_a_connection_error_is_reported() -> None:
    assert (
        await sender_answering(500, []).send(
            url="http://127.0.0.1:1/h", secret=new_secret(), message_id="m", body=BODY
        )
        == "HTTP 500"
    )

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    sender = HttpxWebhookSender(client, timeout_seconds=2, allow_private=True)
    error = await sender.send(
        url="http://127.0.0.1:1/h", secret=new_secret(), message_id="m", body=BODY
    )
    assert error == "ConnectError: connection refused"


async def test_a_target_that_now_resolves_privately_is_not_called() -> None:
    seen: list[httpx.Request] = []
    sender = sender_answering(204, seen, allow_private=False)
    error = await sender.send(
        url="https://127.0.0.1/hook", secret=new_secret(), message_id="m", body=BODY
    )
    assert error is not None and error.startswith("target refused")
    assert seen == []


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, InMemoryDeliveries]]:
    app = routes_app()
    deliveries = InMemoryDeliveries()
    attach_subscriptions(
        app,
        NotifierSettings(allow_private_webhook_targets=False),
        InMemorySubscriptions(),
        deliveries,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
        yield client, deliveries


async def test_subscribe_look_up_list_and_unsubscribe(
    api: tuple[httpx.AsyncClient, InMemoryDeliveries],
) -> None:
    client, _ = api
    created = await client.post(
        "/v1/subscriptions", json={"holder_id": "did:key:h", "url": "https://93.184.215.14/h"}
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["holder_id"] == "did:key:h"
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
