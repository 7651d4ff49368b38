"""A holder's live stream over the real Kafka and MongoDB: events published to the topic reach
the stream; a client that drops and reconnects with Last-Event-ID gets every event once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from credreg_notifier.bootstrap import build_app
from credreg_notifier.domain import notice_body
from credreg_notifier.settings import NotifierSettings
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.topics import CREDENTIALS_TOPIC
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.testing import serving

from .streaming import streaming

pytestmark = pytest.mark.integration

TOKEN_KEY = Ed25519KeyPair.generate()


def revoked(holder_id: str, credential_id: str) -> Envelope:
    # One credential: one partition key, so the topic keeps these events in publishing order.
    return samples.sample_envelope(
        samples.credential_revoked(credential_id=credential_id, holder_id=holder_id)
    )


async def test_a_stream_dropped_and_resumed_gets_every_event_once(
    service_settings: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    settings: NotifierSettings = await service_settings(
        NotifierSettings, holder_token_key=TOKEN_KEY.secret_multikey, stream_poll_seconds=0.1
    )
    holder = f"did:example:{unique_name('holder')}"
    token, _ = HolderTokenMinter(TOKEN_KEY).mint(holder, authenticated_by="did")
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/v1/holders/{holder}/events"
    credential = f"urn:uuid:{uuid.uuid4()}"
    sent = [revoked(holder, credential) for _ in range(6)]
    app = build_app(settings)
    topic = settings.topic(CREDENTIALS_TOPIC)
    async with (
        serving(app, base_url="http://notifier"),
        KafkaPublisher(settings.kafka_bootstrap_servers, client_id="streams-test") as publisher,
    ):
        for envelope in sent[:3]:
            await publisher.publish(envelope, topic=topic)
        async with streaming(app, path, headers) as stream:
            assert stream.status == 200
            first = await stream.events(2)  # and drop the connection mid-way
        # While it is away: new events, and one the log delivers again.
        for envelope in [sent[3], sent[0], sent[4], sent[5]]:
            await publisher.publish(envelope, topic=topic)
        resume = {**headers, "Last-Event-ID": first[-1]["id"]}
        async with streaming(app, path, resume) as stream:
            second = await stream.events(4)
    received = first + second
    assert [e["id"] for e in received] == ["1", "2", "3", "4", "5", "6"]
    assert [e["data"] for e in received] == [notice_body(e) for e in sent]
