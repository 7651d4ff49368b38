"""The registry in-process over the real Kafka and MongoDB-wire server: consume, view, replay, DLQ.

Each test gets settings of its own from the root conftest's ``service_settings`` (topic
namespace, consumer group and database), runs the app's lifespan (indexes, topics, consumer)
with ``serving`` and reads the view through the HTTP API.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from credreg_registry.bootstrap import build_app
from credreg_registry.settings import RegistrySettings
from credreg_shared.events import CREDENTIALS_TOPIC, dlq_topic, models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope, to_record
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.messaging.processing import ConsumerStats
from credreg_shared.testing import SettingsFactory, eventually, serving

pytestmark = pytest.mark.integration

BASE_URL = "http://registry"
"""The root conftest's ``service_settings`` factory."""

READER_KEYS = {"key-issuer": samples.SAMPLE_ISSUER}
AS_ISSUER = {"Authorization": "Bearer key-issuer"}


def stats_of(app: FastAPI) -> ConsumerStats:
    stats: ConsumerStats = app.state.follower.stats
    return stats


async def finished_with(app: FastAPI, records: int) -> None:
    """Wait until the app's consumer finished with `records` records (any outcome)."""

    async def done() -> bool:
        stats = stats_of(app)
        return stats.processed + stats.skipped + stats.dead_lettered >= records

    await eventually(done, f"consumer finished with {records} records")


async def status(client: httpx.AsyncClient, credential_id: str) -> str | None:
    """The credential's status now, None while the registry does not show it (no polling)."""
    response = await client.get(f"/v1/credentials/{credential_id}")
    return response.json()["status"] if response.status_code == 200 else None


def shown_with_status(
    client: httpx.AsyncClient, credential_id: str, expected: str
) -> Callable[[], Awaitable[dict[str, Any] | None]]:
    """A probe: the credential's body once the registry shows it with `expected` status."""

    async def probe() -> dict[str, Any] | None:
        response = await client.get(f"/v1/credentials/{credential_id}")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if body["status"] == expected else None

    return probe


def shown(client: httpx.AsyncClient, credential_id: str) -> Callable[[], Awaitable[str | None]]:
    """A probe: the credential's status once its issued event is in (before that: 404, None)."""
    return lambda: status(client, credential_id)


def lifecycle(
    kind: type[models.CredentialEvent], credential_id: str, holder: str, **extra: Any
) -> Envelope:
    data = kind.model_validate(
        {
            "credential_id": credential_id,
            "issuer_id": samples.SAMPLE_ISSUER,
            "holder_id": holder,
            **extra,
        }
    )
    return new_envelope(data, source="urn:test")


def issued(credential_id: str, holder: str) -> Envelope:
    return new_envelope(samples.credential_issued(credential_id, holder), source="urn:test")


def new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


async def view_documents(db: AsyncDatabase[dict[str, object]]) -> dict[object, Any]:
    return {d["_id"]: d async for d in db["credentials"].find({})}


async def test_lifecycle_events_show_through_the_api(
    service_settings: SettingsFactory, publisher: KafkaPublisher
) -> None:
    settings: RegistrySettings = await service_settings(RegistrySettings, api_keys=READER_KEYS)
    holder, kept, revoked = f"did:example:{uuid.uuid4().hex}", new_id(), new_id()
    topic = settings.topic(CREDENTIALS_TOPIC)
    async with serving(build_app(settings), BASE_URL) as client:
        client.headers.update(AS_ISSUER)  # the issuer of the sample credentials
        await publisher.publish_many(
            [
                issued(kept, holder),
                issued(revoked, holder),
                lifecycle(models.CredentialSuspended, kept, holder, reason="audit"),
                lifecycle(models.CredentialRevoked, revoked, holder, reason="out of date"),
                lifecycle(models.CredentialReinstated, kept, holder),
                lifecycle(
                    models.CredentialExpiring,
                    kept,
                    holder,
                    valid_until=samples.VALID_UNTIL,
                    lead_days=30,
                    renewal=samples.RENEWAL,
                ),
            ],
            topic=topic,
        )

        async def kept_final() -> dict[str, Any] | None:
            response = await client.get(f"/v1/credentials/{kept}")
            if response.status_code != 200:
                return None
            body: dict[str, Any] = response.json()
            # Every field is in a 200 body (null until set): wait for both values, not keys.
            done = body["expires_soon"] is not None and body["reinstated_at"] is not None
            return body if done else None

        body = await eventually(kept_final, "reinstated credential with its expiring notice")
        assert body["status"] == "active"
        assert body["suspension"] is None
        assert body["expires_soon"]["lead_days"] == 30
        assert body["renewal"] == samples.RENEWAL.model_dump()
        assert body["achievement"]["name"] == "CPR and First Aid"
        assert body["credential"]["id"] == kept
        # The two credentials sit on different partitions: the revocation may come later.
        revoked_body = await eventually(
            shown_with_status(client, revoked, "revoked"), "revoked credential"
        )
        assert revoked_body["revocation"]["reason"] == "out of date"

        portfolio = (await client.get(f"/v1/holders/{holder}/credentials")).json()
        assert {(c["id"], c["status"]) for c in portfolio["credentials"]} == {
            (kept, "active"),
            (revoked, "revoked"),
        }
        missing = await client.get(f"/v1/credentials/{new_id()}")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        stats = (await client.get("/v1/stats")).json()
        assert stats["credentials"] == 2
        assert stats["by_status"] == {"active": 1, "suspended": 0, "expired": 0, "revoked": 1}
        assert (await client.get("/readyz")).status_code == 200


async def test_redelivery_and_replay_by_a_new_group_leave_the_view_unchanged(
    service_settings: SettingsFactory,
    publisher: KafkaPublisher,
    mongo_db: AsyncDatabase[dict[str, object]],
    unique_name: Callable[[str], str],
) -> None:
    settings: RegistrySettings = await service_settings(RegistrySettings, api_keys=READER_KEYS)
    holder, first, second = f"did:example:{uuid.uuid4().hex}", new_id(), new_id()
    events = [
        issued(first, holder),
        lifecycle(models.CredentialSuspended, first, holder),
        issued(second, holder),
        lifecycle(models.CredentialRevoked, first, holder, reason="fraud"),
    ]
    topic = settings.topic(CREDENTIALS_TOPIC)
    # Every event twice in the log, as a producer retry after a lost ack would leave it.
    await publisher.publish_many(events, topic=topic)
    await publisher.publish_many(events, topic=topic)
    app = build_app(settings)
    async with serving(app, BASE_URL) as client:
        client.headers.update(AS_ISSUER)  # the issuer of the sample credentials
        await finished_with(app, 2 * len(events))
        assert await status(client, first) == "revoked"
        assert await status(client, second) == "active"
    before = await view_documents(mongo_db)
    assert {key: d["applied_events"] for key, d in before.items()} == {
        first: [events[0].id, events[1].id, events[3].id],
        second: [events[2].id],
    }

    replay = build_app(settings.model_copy(update={"consumer_group": unique_name("replay")}))
    async with serving(replay, BASE_URL):
        await finished_with(replay, 2 * len(events))
        assert stats_of(replay).dead_lettered == 0
    assert await view_documents(mongo_db) == before


async def test_a_revocation_replayed_before_its_issuance_is_not_lost(
    service_settings: SettingsFactory, publisher: KafkaPublisher
) -> None:
    settings: RegistrySettings = await service_settings(RegistrySettings, api_keys=READER_KEYS)
    holder, credential = f"did:example:{uuid.uuid4().hex}", new_id()
    topic = settings.topic(CREDENTIALS_TOPIC)
    async with serving(build_app(settings), BASE_URL) as client:
        client.headers.update(AS_ISSUER)  # the issuer of the sample credentials
        await publisher.publish(
            lifecycle(models.CredentialRevoked, credential, holder, reason="superseded"),
            topic=topic,
        )

        async def placeholder_stored() -> bool:
            return bool((await client.get("/v1/stats")).json()["awaiting_issuance"] == 1)

        await eventually(placeholder_stored, "the revocation's placeholder")
        # Not a bogus credential: the registry does not show it before its issuance.
        assert (await client.get(f"/v1/credentials/{credential}")).status_code == 404
        portfolio = (await client.get(f"/v1/holders/{holder}/credentials")).json()
        assert portfolio["credentials"] == []

        await publisher.publish(issued(credential, holder), topic=topic)
        # Awaited: the issuance shows (404 until then); asserted: it kept the revocation.
        assert await eventually(shown(client, credential), "issued") == "revoked"
        stats = (await client.get("/v1/stats")).json()
        assert stats["awaiting_issuance"] == 0
        assert stats["by_status"]["revoked"] == 1


async def test_malformed_records_go_to_the_dlq_and_the_next_good_record_is_applied(
    service_settings: SettingsFactory, publisher: KafkaPublisher, kafka_bootstrap: str
) -> None:
    settings: RegistrySettings = await service_settings(RegistrySettings, api_keys=READER_KEYS)
    topic = settings.topic(CREDENTIALS_TOPIC)
    good = new_id()
    # All three under the good record's key: one partition, the poison first in line.
    key = good.encode()
    not_json = b"{not json"
    await publisher.publish_record(topic, key=key, value=not_json, headers=[("ce_type", b"x")])
    # Valid CloudEvents headers of an issued event, but data that fails its schema.
    bad_data = b'{"credential_id": "%s"}' % key
    headers = to_record(issued(good, "did:example:good")).headers
    await publisher.publish_record(topic, key=key, value=bad_data, headers=headers)
    await publisher.publish(issued(good, "did:example:good"), topic=topic)
    app = build_app(settings)
    async with serving(app, BASE_URL) as client:
        client.headers.update(AS_ISSUER)  # the issuer of the sample credentials
        # Awaited: the good record shows (404 until then); asserted: as an active credential.
        assert await eventually(shown(client, good), "the good record") == "active"
        await finished_with(app, 3)
        assert stats_of(app).dead_lettered == 2
        assert stats_of(app).processed == 1

    dead = await _dead_letters(kafka_bootstrap, dlq_topic(topic), count=2)
    assert set(dead) == {not_json, bad_data}
    assert dead[not_json]["credreg_error_type"].startswith("invalid_event.")
    assert dead[bad_data]["credreg_error_type"] == "invalid_event.invalid_data"
    for found in dead.values():
        assert found["credreg_consumer_group"] == settings.consumer_group
        assert found["credreg_source_topic"] == topic
        assert found["credreg_error"]


async def _dead_letters(bootstrap: str, dlq: str, *, count: int) -> dict[bytes, dict[str, str]]:
    """The headers of the first `count` records of the dead-letter topic, by record value."""
    consumer = AIOKafkaConsumer(
        dlq,
        bootstrap_servers=bootstrap,
        group_id=f"dlq-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: dict[bytes, dict[str, str]] = {}
    try:

        async def read() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    assert record.value is not None
                    found[record.value] = {name: value.decode() for name, value in record.headers}
            return len(found) >= count

        await eventually(read, f"{count} dead letters in {dlq}")
    finally:
        await consumer.stop()
    return found
