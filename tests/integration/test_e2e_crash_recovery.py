"""A registry killed with SIGKILL mid-stream loses nothing and doubles nothing when restarted."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from credreg_shared.events import samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging import KafkaPublisher, ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ISSUANCES = 1_000
BEFORE_KILL = 500


async def count(client: httpx.AsyncClient, url: str) -> int:
    """How many credentials the registry's view holds."""
    return int((await client.get(f"{url}/v1/stats")).json()["credentials"])


async def test_registry_killed_mid_stream_ends_with_every_credential_exactly_once(
    endpoints: Any,
    empty_stack: Any,
    eventually: Callable[..., Awaitable[Any]],
) -> None:
    stack = empty_stack
    topic = f"{stack.base_env['CREDREG_TOPIC_NAMESPACE']}credreg.credentials"
    await ensure_topics(endpoints.kafka_bootstrap, {topic: 3})
    envelopes = [
        new_envelope(samples.credential_issued(f"urn:uuid:{uuid.uuid4()}"), source="urn:test")
        for _ in range(ISSUANCES)
    ]
    registry = stack.start("registry")
    async with (
        KafkaPublisher(endpoints.kafka_bootstrap) as publisher,
        httpx.AsyncClient(timeout=30) as client,
    ):
        await publisher.publish_many(envelopes[:BEFORE_KILL], topic=topic)
        await eventually(lambda: _at_least(client, registry.url, 50))
        registry.kill()  # SIGKILL: no graceful stop, no final commit

        # The rest of the stream arrives while the registry is down.
        await publisher.publish_many(envelopes[BEFORE_KILL:], topic=topic)
        restarted = stack.start("registry")  # same database and consumer group
        await eventually(lambda: _at_least(client, restarted.url, ISSUANCES), within=180)
        assert await count(client, restarted.url) == ISSUANCES
    # SIGTERM: the registry finishes its batch, commits, leaves the group and exits cleanly.
    exit_code = restarted.stop()
    assert exit_code == 0, f"exit code {exit_code}:\n{restarted.tail(8)}"
    assert '"consumer stopped"' in restarted.tail(15), restarted.tail(15)

    # None doubled: one view document per credential, carrying exactly its own issued event.
    database = stack.env_for("registry")["CREDREG_MONGODB_DATABASE"]
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(endpoints.mongodb_uri)
    try:
        view = mongo[database]["credentials"]
        expected = {e.data.event_subject(): [e.id] for e in envelopes}
        documents = [d async for d in view.find({}, {"applied_events": 1})]
        assert len(documents) == ISSUANCES
        assert {d["_id"]: d["applied_events"] for d in documents} == expected
    finally:
        await mongo.drop_database(database)
        await mongo.close()


async def _at_least(client: httpx.AsyncClient, url: str, wanted: int) -> bool:
    try:
        return await count(client, url) >= wanted
    except httpx.HTTPError:
        return False
