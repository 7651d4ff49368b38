"""The notifier over the real Kafka and MongoDB, with a webhook receiver on loopback."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from credreg_notifier.bootstrap import build_app
from credreg_notifier.settings import NotifierSettings
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.topics import CREDENTIALS_TOPIC
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.testing import eventually, serving

pytestmark = pytest.mark.integration

MAX_ATTEMPTS = 3

# Subscriptions are made as the sample events' issuer: it hears of its own credentials.
SAMPLE_KEYS = {"key-sample-issuer": samples.SAMPLE_ISSUER}
AS_SAMPLE_ISSUER = {"Authorization": "Bearer key-sample-issuer"}


@dataclass
class Receiver:
    """A wallet's webhook endpoint: records each POST, answers the queued codes, then 204."""

    url: str = ""
    status_codes: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with found.lock:
                found.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = found.status_codes.pop(0) if found.status_codes else 204
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Notifier:
    """The notifier app running in-process, its API client and a publisher on its topic."""

    api: httpx.AsyncClient
    publisher: KafkaPublisher
    topic: str

    async def publish(self, envelope: Envelope) -> None:
        await self.publisher.publish(envelope, topic=self.topic)

    async def subscribe(self, **body: str) -> dict[str, Any]:
        created = await self.api.post("/v1/subscriptions", json=body)
        assert created.status_code == 201, created.text
        answer: dict[str, Any] = created.json()
        return answer

    async def deliveries(self, subscription_id: str) -> list[dict[str, Any]]:
        listed = await self.api.get(f"/v1/subscriptions/{subscription_id}/deliveries")
        assert listed.status_code == 200, listed.text
        found: list[dict[str, Any]] = listed.json()["deliveries"]
        return found


@pytest.fixture
async def notifier(service_settings: Callable[..., Any]) -> AsyncIterator[Notifier]:
    settings: NotifierSettings = await service_settings(
        NotifierSettings,
        api_keys=SAMPLE_KEYS,
        allow_private_webhook_targets=True,
        webhook_max_attempts=MAX_ATTEMPTS,
        webhook_backoff_base_seconds=0.2,
        webhook_backoff_max_seconds=1.0,
        webhook_timeout_seconds=3.0,
        webhook_lease_seconds=10.0,
        delivery_poll_seconds=0.05,
    )
    async with (
        serving(build_app(settings), base_url="http://notifier") as api,
        KafkaPublisher(settings.kafka_bootstrap_servers, client_id="notifier-test") as publisher,
    ):
        api.headers.update(AS_SAMPLE_ISSUER)
        yield Notifier(api, publisher, settings.topic(CREDENTIALS_TOPIC))


def revoked(holder_id: str) -> Envelope:
    return samples.sample_envelope(samples.credential_revoked(holder_id=holder_id))


async def settled(notifier: Notifier, subscription_id: str, status: str) -> dict[str, Any]:
    """The subscription's single delivery once it has `status`."""

    async def with_status() -> dict[str, Any] | None:
        deliveries = await notifier.deliveries(subscription_id)
        assert len(deliveries) <= 1, deliveries
        return deliveries[0] if deliveries and deliveries[0]["status"] == status else None

    return await eventually(with_status, f"the delivery to {subscription_id} is {status}")


async def test_a_revocation_reaches_the_wallet_once_signed(
    notifier: Notifier, receiver: Receiver, unique_name: Callable[[str], str]
) -> None:
    holder = f"did:example:{unique_name('holder')}"
    subscription = await notifier.subscribe(holder_id=holder, url=receiver.url)
    envelope = revoked(holder)
    await notifier.publish(envelope)

    delivery = await settled(notifier, subscription["id"], "delivered")

    assert (delivery["attempts"], delivery["event_id"]) == (1, envelope.id)
    [(headers, body)] = receiver.received()
    assert headers["webhook-id"] == delivery["id"]
    notice = Webhook(subscription["secret"]).verify(body, headers)
    assert notice["type"] == models.CredentialRevoked.event_type
    assert (
        notice["data"]["credential_id"] == envelope.data_as(models.CredentialRevoked).credential_id
    )
    assert notice["data"]["holder_id"] == holder


async def test_an_event_the_log_delivers_twice_is_sent_once(
    notifier: Notifier, receiver: Receiver, unique_name: Callable[[str], str]
) -> None:
    holder = f"did:example:{unique_name('holder')}"
    subscription = await notifier.subscribe(holder_id=holder, url=receiver.url)
    envelope = revoked(holder)
    await notifier.publish(envelope)
    await notifier.publish(envelope)
    # A new event for the same credential lands on the same partition after both copies, so
    # once it is planned both copies have been consumed.
    later = samples.sample_envelope(envelope.data)
    await notifier.publish(later)

    async def all_delivered_including_the_later_event() -> list[dict[str, Any]] | None:
        deliveries = await notifier.deliveries(subscription["id"])
        planned = {d["event_id"] for d in deliveries}
        done = all(d["status"] == "delivered" for d in deliveries)
        return deliveries if later.id in planned and done else None

    deliveries = await eventually(
        all_delivered_including_the_later_event, "every planned delivery, the later one's too"
    )
    assert sorted(d["event_id"] for d in deliveries) == sorted([envelope.id, later.id])
    assert len(receiver.received()) == 2
    assert len({headers["webhook-id"] for headers, _ in receiver.received()}) == 2


async def test_a_failing_wallet_gets_the_notice_on_the_third_attempt_under_one_id(
    notifier: Notifier, receiver: Receiver, unique_name: Callable[[str], str]
) -> None:
    receiver.status_codes.extend([500, 500])
    credential_event = revoked(f"did:example:{unique_name('holder')}")
    credential_id = credential_event.data_as(models.CredentialRevoked).credential_id
    subscription = await notifier.subscribe(credential_id=credential_id, url=receiver.url)
    await notifier.publish(credential_event)

    delivery = await settled(notifier, subscription["id"], "delivered")

    assert delivery["attempts"] == 3
    received = receiver.received()
    assert len(received) == 3
    assert {headers["webhook-id"] for headers, _ in received} == {delivery["id"]}
    for headers, body in received:
        Webhook(subscription["secret"]).verify(body, headers)


async def test_a_wallet_that_always_fails_ends_as_a_visible_dead_letter(
    notifier: Notifier, receiver: Receiver, unique_name: Callable[[str], str]
) -> None:
    receiver.status_codes.extend([503] * (MAX_ATTEMPTS + 5))
    holder = f"did:example:{unique_name('holder')}"
    subscription = await notifier.subscribe(holder_id=holder, url=receiver.url)
    await notifier.publish(revoked(holder))

    delivery = await settled(notifier, subscription["id"], "dead")

    assert (delivery["attempts"], delivery["last_error"]) == (MAX_ATTEMPTS, "HTTP 503")
    assert len(receiver.received()) == MAX_ATTEMPTS
    metrics = (await notifier.api.get("/metrics")).text
    assert 'credreg_webhook_attempts_total{outcome="dead"} 1.0' in metrics
    assert f'credreg_webhook_attempts_total{{outcome="pending"}} {MAX_ATTEMPTS - 1}.0' in metrics


async def test_subscriptions_refuse_private_targets_when_not_allowed_over_the_real_app(
    notifier: Notifier,
) -> None:
    created = await notifier.api.post(
        "/v1/subscriptions", json={"holder_id": "h", "url": "ftp://127.0.0.1/hook"}
    )
    assert created.status_code == 422
    assert created.headers["content-type"] == "application/problem+json"


async def test_the_app_warns_at_start_up_that_private_targets_are_allowed(
    notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    warnings = [
        record
        for record in caplog.get_records("setup")
        if record.levelno == logging.WARNING
        and "CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS is on" in record.getMessage()
    ]
    assert len(warnings) == 1


async def test_the_real_app_refuses_loopback_targets_unless_private_targets_are_allowed(
    service_settings: Callable[..., Any],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings: NotifierSettings = await service_settings(NotifierSettings, api_keys=SAMPLE_KEYS)
    loopback_https = receiver.url.replace("http://", "https://")
    async with serving(build_app(settings), base_url="http://notifier") as api:
        api.headers.update(AS_SAMPLE_ISSUER)
        for url in (receiver.url, loopback_https, "https://[::ffff:127.0.0.1]/hooks"):
            created = await api.post("/v1/subscriptions", json={"holder_id": "h", "url": url})
            assert created.status_code == 422, (url, created.text)
    assert "CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS is on" not in caplog.text
