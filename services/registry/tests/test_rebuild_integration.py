"""`credreg registry rebuild` on the real Kafka and Mongo-wire server: replay, switch, follow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from credreg_registry.adapters.mongo import MongoGenerationPointer, MongoViewStore
from credreg_registry.bootstrap import build_app
from credreg_registry.layout import ViewChanges
from credreg_registry.rebuild import rebuild
from credreg_registry.settings import RegistrySettings
from credreg_shared.events import CREDENTIALS_TOPIC, models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.testing import SettingsFactory, eventually, serving

pytestmark = pytest.mark.integration

BASE_URL = "http://registry"

READER_KEYS = {"key-issuer": samples.SAMPLE_ISSUER}
AS_ISSUER = {"Authorization": "Bearer key-issuer"}


@pytest.fixture
async def settings(
    service_settings: SettingsFactory, mongo_client: AsyncMongoClient[dict[str, Any]]
) -> AsyncIterator[RegistrySettings]:
    """Settings of one registry; the generations a rebuild makes are dropped afterwards."""
    made: RegistrySettings = await service_settings(RegistrySettings, api_keys=READER_KEYS)
    yield made
    for generation in (1, 2, 3):
        await mongo_client.drop_database(f"{made.mongodb_database}_g{generation}")


def issuances(holder: str, count: int) -> list[Envelope]:
    return [
        new_envelope(samples.credential_issued(f"urn:uuid:{uuid.uuid4()}", holder), source="urn:t")
        for _ in range(count)
    ]


def revocation(issued: Envelope) -> Envelope:
    data = issued.data_as(models.CredentialIssued)
    revoked = models.CredentialRevoked(
        credential_id=data.credential_id,
        issuer_id=data.issuer_id,
        holder_id=data.holder_id,
        reason="out of date",
    )
    return new_envelope(revoked, source="urn:t")


async def answers(client: httpx.AsyncClient, holder: str) -> tuple[Any, list[Any]]:
    """The stats and the holder's first portfolio page."""
    stats = (await client.get("/v1/stats")).json()
    page = (await client.get(f"/v1/holders/{holder}/credentials")).json()
    return stats, sorted((line["id"], line["status"]) for line in page["credentials"])


def settled(client: httpx.AsyncClient, holder: str, credentials: int, revoked: int = 0) -> Any:
    """A probe: the answers once both the stats and the portfolio page show every credential
    (a batch moves the counters before it writes the lists, so stats can be ahead for a moment)."""

    async def probe() -> tuple[Any, list[Any]] | None:
        stats, lines = await answers(client, holder)
        listed_revoked = sum(1 for _, status in lines if status == "revoked")
        shown = (stats["credentials"], stats["by_status"]["revoked"], len(lines), listed_revoked)
        return (stats, lines) if shown == (credentials, revoked, credentials, revoked) else None

    return probe


def serving_generation(app: FastAPI, client: httpx.AsyncClient, generation: int) -> Any:
    """A probe: True once the app's readers moved to `generation`, and its metric says so."""

    async def probe() -> bool | None:
        metrics = (await client.get("/metrics")).text
        shown = f"credreg_registry_view_generation {float(generation)}" in metrics.splitlines()
        return True if shown and app.state.follower.generation == generation else None

    return probe


async def test_a_rebuild_replays_the_log_and_the_running_registry_follows_it(
    settings: RegistrySettings,
    publisher: KafkaPublisher,
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> None:
    holder = f"did:example:{uuid.uuid4().hex}"
    events = issuances(holder, 30)
    events.append(revocation(events[0]))
    topic = settings.topic(CREDENTIALS_TOPIC)
    await publisher.publish_many(events, topic=topic)
    app = build_app(settings)
    async with serving(app, BASE_URL) as client:
        client.headers.update(AS_ISSUER)  # the issuer of the sample credentials

        before = await eventually(settled(client, holder, 30, revoked=1), "the first view complete")
        assert before[0]["credentials"] == 30

        report = await rebuild(settings)
        assert (report.generation, report.events) == (1, len(events))
        await eventually(serving_generation(app, client, 1), "readers on generation 1")
        assert await answers(client, holder) == before

        # The running registry now consumes into generation 1.
        later = issuances(holder, 1)
        await publisher.publish_many(later, topic=topic)
        later_id = later[0].data.event_subject()

        async def shown() -> bool | None:
            response = await client.get(f"/v1/credentials/{later_id}")
            return True if response.status_code == 200 else None

        await eventually(shown, "a credential issued after the switch")
        generation_1 = mongo_client[f"{settings.mongodb_database}_g1"]
        assert await generation_1["credentials"].find_one({"_id": later_id}) is not None

        second = await rebuild(settings)
        assert (second.generation, second.events) == (2, len(events) + 1)
        await eventually(serving_generation(app, client, 2), "readers on generation 2")
        assert (await answers(client, holder))[0]["credentials"] == 31
    # Generation 0's view was dropped with the second rebuild; the pointer stays.
    base = mongo_client[settings.mongodb_database]
    assert "credentials" not in await base.list_collection_names()
    assert (await MongoGenerationPointer(base).active("unused")).number == 2


async def test_an_interrupted_rebuild_leaves_the_old_view_serving(
    settings: RegistrySettings,
    publisher: KafkaPublisher,
    mongo_client: AsyncMongoClient[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = f"did:example:{uuid.uuid4().hex}"
    events = issuances(holder, 40)
    await publisher.publish_many(events, topic=settings.topic(CREDENTIALS_TOPIC))
    app = build_app(settings)
    async with serving(app, BASE_URL) as client:
        client.headers.update(AS_ISSUER)  # the issuer of the sample credentials

        before = await eventually(settled(client, holder, 40), "the view complete")

        # The rebuild writes slowly (one event per batch, each save held), so it is cut halfway.
        saved = asyncio.Event()
        original_save = MongoViewStore.save

        async def slow_save(self: MongoViewStore, changes: ViewChanges) -> None:
            await original_save(self, changes)
            saved.set()
            await asyncio.sleep(0.5)

        monkeypatch.setattr(MongoViewStore, "save", slow_save)
        interrupted = asyncio.create_task(rebuild(settings.model_copy(update={"rebuild_batch": 1})))
        await asyncio.wait_for(saved.wait(), timeout=60)
        interrupted.cancel()
        with pytest.raises(asyncio.CancelledError):
            await interrupted
        monkeypatch.undo()

        base = mongo_client[settings.mongodb_database]
        assert (await MongoGenerationPointer(base).active("unused")).number == 0
        assert app.state.follower.generation == 0
        assert await answers(client, holder) == before

        # The next rebuild starts over: no leftover documents, no leftover offsets.
        report = await rebuild(settings)
        assert (report.generation, report.events) == (1, 40)
        await eventually(serving_generation(app, client, 1), "readers on generation 1")
        assert await answers(client, holder) == before
