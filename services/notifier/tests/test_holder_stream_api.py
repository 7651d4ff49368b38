"""`GET /v1/holders/{holder_id}/events` over fakes: who may open it, replay after
Last-Event-ID without gaps or repeats, new events as they come, heartbeats."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI

from credreg_notifier.adapters.fakes import (
    InMemoryDeliveries,
    InMemoryHolderEvents,
    InMemoryOwnerQuotas,
    InMemorySubscriptions,
    RecordedOutcomes,
    ScriptedSender,
    StaticWebhookTargets,
)
from credreg_notifier.adapters.holder_events import InProcessWakeups
from credreg_notifier.bootstrap import build_app, planner
from credreg_notifier.domain import notice_body
from credreg_notifier.ports import Adapters
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import Envelope

from .streaming import streaming
from .test_api import SETTINGS, holder_token

HOLDER = "holder-ada"
PATH = f"/v1/holders/{HOLDER}/events"


def adapters() -> Adapters:
    return Adapters(
        subscriptions=InMemorySubscriptions(),
        deliveries=InMemoryDeliveries(),
        targets=StaticWebhookTargets(allow_private=False),
        sender=ScriptedSender(),
        outcomes=RecordedOutcomes(),
        quotas=InMemoryOwnerQuotas(),
        holder_events=InMemoryHolderEvents(),
        wakeups=InProcessWakeups(),
    )


def app_over(fakes: Adapters, **settings: Any) -> FastAPI:
    return build_app(SETTINGS.model_copy(update=settings), fakes=fakes)


def revoked() -> Envelope:
    return samples.sample_envelope(samples.credential_revoked(holder_id=HOLDER))


async def refusal(app: FastAPI, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
        return await client.get(PATH, headers=headers)


async def test_without_credentials_401() -> None:
    answer = await refusal(app_over(adapters()), {})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


async def test_another_holders_token_or_an_institution_key_403() -> None:
    app = app_over(adapters())
    for headers in (holder_token("holder-bob"), {"Authorization": "Bearer key-uni"}):
        answer = await refusal(app, headers)
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"


async def test_a_last_event_id_that_is_not_a_number_422() -> None:
    answer = await refusal(app_over(adapters()), {**holder_token(HOLDER), "Last-Event-ID": "x"})
    assert answer.status_code == 422


async def test_reconnecting_with_last_event_id_loses_and_repeats_nothing() -> None:
    fakes = adapters()
    app, consumer = app_over(fakes), planner(fakes)
    sent = [revoked() for _ in range(5)]
    for envelope in sent[:3]:
        await consumer.on_credential_event(envelope)
    async with streaming(app, PATH, holder_token(HOLDER)) as stream:
        assert stream.status == 200
        first = await stream.events(3)
        await consumer.on_credential_event(sent[3])
        first += await stream.events(1)
    # Disconnected; meanwhile one more event, and a redelivery of one already sent.
    await consumer.on_credential_event(sent[4])
    await consumer.on_credential_event(sent[1])
    resume = {**holder_token(HOLDER), "Last-Event-ID": first[-1]["id"]}
    async with streaming(app, PATH, resume) as stream:
        second = await stream.events(1)
        late = revoked()
        await consumer.on_credential_event(late)
        second += await stream.events(1)
    received = first + second
    assert [e["id"] for e in received] == ["1", "2", "3", "4", "5", "6"]
    assert [e["data"] for e in received] == [notice_body(e) for e in [*sent, late]]
    assert {e["event"] for e in received} == {"org.credreg.credential.revoked.v1"}
    assert json.loads(received[0]["data"])["data"]["holder_id"] == HOLDER


async def test_an_idle_stream_sends_heartbeat_comments() -> None:
    app = app_over(adapters(), stream_heartbeat_seconds=0.01)
    async with streaming(app, PATH, holder_token(HOLDER)) as stream:
        assert stream.status == 200
        await stream.comment("ping")


async def test_a_stream_says_it_is_an_event_stream_not_to_be_cached() -> None:
    app = app_over(adapters(), stream_heartbeat_seconds=0.01)
    async with streaming(app, PATH, holder_token(HOLDER)) as stream:
        await stream.comment("ping")
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
