"""The revocation service in-process over the real Kafka and MongoDB-wire server.

Each test builds the app through the composition root with its own topic namespace, consumer
group and database (the root `service_settings` fixture), runs its lifespan (indexes, topics,
consumer), feeds `credential.issued` events through the topic and asks for revocations over
HTTP. What reached the log is read back from the topic up to its end offsets: every 202 came
after the broker's ack, so an event that is not there by then never will be.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from credreg_revocation.adapters.mongo import COLLECTION, PENDING, MongoCredentialRepository
from credreg_revocation.bootstrap import build_app
from credreg_revocation.settings import RevocationSettings
from credreg_shared.events import CREDENTIALS_TOPIC, models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope, to_record
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.messaging.processing import ConsumerStats
from credreg_shared.testing import SettingsFactory, eventually, read_log, serving

pytestmark = pytest.mark.integration

OWNER, OTHER = samples.SAMPLE_ISSUER, "did:web:other-university.example"
AS_OWNER = {"Authorization": "Bearer key-owner"}
AS_OTHER = {"Authorization": "Bearer key-other"}
API_KEYS = {"key-owner": OWNER, "key-other": OTHER}
BASE_URL = "http://revocation"
"""The root conftest's `service_settings` fixture."""


async def revocation_settings(service_settings: SettingsFactory) -> RevocationSettings:
    """This test's settings (its own database, topics and group) with the test's API keys."""
    settings: RevocationSettings = await service_settings(RevocationSettings, api_keys=API_KEYS)
    return settings


async def issue(settings: RevocationSettings, *credential_ids: str) -> None:
    """Publish `credential.issued` (issuer: OWNER) for each id, as the issuer service would."""
    async with KafkaPublisher(settings.kafka_bootstrap_servers) as publisher:
        await publisher.publish_many(
            [
                new_envelope(samples.credential_issued(credential_id), source="urn:test:issuer")
                for credential_id in credential_ids
            ],
            topic=settings.topic(CREDENTIALS_TOPIC),
        )


async def known(db: AsyncDatabase[dict[str, object]], *credential_ids: str) -> None:
    """Wait until the service's view has every credential."""

    async def all_there() -> bool:
        # True only once every one is there (a partial count is not progress to report).
        count = await db[COLLECTION].count_documents({"_id": {"$in": list(credential_ids)}})
        return count == len(credential_ids)

    await eventually(all_there, f"the view knows {credential_ids}")


async def log_of(settings: RevocationSettings) -> list[tuple[bytes | None, Envelope]]:
    """Every record now on the credentials topic, decoded: (key, envelope)."""
    return await read_log(
        settings.kafka_bootstrap_servers,
        settings.topic(CREDENTIALS_TOPIC),
        settings.topic_partitions,
    )


async def revocations_of(settings: RevocationSettings, credential_id: str) -> list[Envelope]:
    return [
        envelope
        for _, envelope in await log_of(settings)
        if envelope.subject == credential_id and isinstance(envelope.data, models.CredentialRevoked)
    ]


async def revoke(
    client: httpx.AsyncClient, credential_id: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"/v1/credentials/{credential_id}/revocation",
        json={"reason": "competency out of date"},
        headers=headers,
    )


def new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def stats(app: FastAPI) -> ConsumerStats:
    found: ConsumerStats = app.state.consumer.stats
    return found


async def processed(app: FastAPI, count: int) -> bool:
    """True once the replica's consumer has handled at least `count` events."""
    return stats(app).processed >= count


async def test_owner_revokes_once_others_are_refused_and_the_log_has_one_event(
    service_settings: SettingsFactory, mongo_db: AsyncDatabase[dict[str, object]]
) -> None:
    settings = await revocation_settings(service_settings)
    credential = new_id()
    app = build_app(settings)
    async with serving(app, BASE_URL) as client:
        assert (await client.get("/readyz")).status_code == 200
        unknown = await revoke(client, credential, AS_OWNER)
        assert unknown.status_code == 404, unknown.text
        assert unknown.headers["content-type"].startswith("application/problem+json")

        await issue(settings, credential)
        await known(mongo_db, credential)
        foreign = await revoke(client, credential, AS_OTHER)
        assert foreign.status_code == 403, foreign.text
        assert await revocations_of(settings, credential) == []

        accepted = await revoke(client, credential, AS_OWNER)
        assert accepted.status_code == 202, accepted.text
        body: dict[str, Any] = accepted.json()
        assert (body["id"], body["status"]) == (credential, "revoked")
        [event] = await revocations_of(settings, credential)
        assert event.id == body["event_id"]
        data = event.data_as(models.CredentialRevoked)
        assert (data.issuer_id, data.reason) == (OWNER, "competency out of date")
        keys = [key for key, envelope in await log_of(settings) if envelope.id == event.id]
        assert keys == [credential.encode()]

        again = await revoke(client, credential, AS_OWNER)
        assert again.status_code == 409, again.text
        assert again.headers["content-type"].startswith("application/problem+json")

        # The consumer then meets the service's own event: already applied, nothing changes.
        await eventually(lambda: processed(app, 2), "consumer handled issued and revoked")
        document = await mongo_db[COLLECTION].find_one({"_id": credential})
        assert document is not None
        assert document["status"] == "revoked"
        applied = document["applied_events"]
        assert isinstance(applied, list) and applied.count(event.id) == 1
    assert len(await revocations_of(settings, credential)) == 1


async def test_concurrent_revocations_on_two_replicas_publish_exactly_one_event(
    service_settings: SettingsFactory, mongo_db: AsyncDatabase[dict[str, object]]
) -> None:
    # Replicas of one deployment: the same settings (topics, consumer group, database).
    settings = await revocation_settings(service_settings)
    credential = new_id()
    async with (
        serving(build_app(settings), BASE_URL) as first,
        serving(build_app(settings), BASE_URL) as second,
    ):
        await issue(settings, credential)
        await known(mongo_db, credential)
        answers = await asyncio.gather(
            *[revoke(client, credential, AS_OWNER) for client in (first, second) * 4]
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202] + [409] * 7, [answer.text for answer in answers]
    [winner] = [answer.json() for answer in answers if answer.status_code == 202]
    assert [event.id for event in await revocations_of(settings, credential)] == [
        winner["event_id"]
    ]


async def test_suspension_and_reinstatement_reach_the_log_in_order(
    service_settings: SettingsFactory, mongo_db: AsyncDatabase[dict[str, object]]
) -> None:
    settings = await revocation_settings(service_settings)
    credential = new_id()
    async with serving(build_app(settings), BASE_URL) as client:
        await issue(settings, credential)
        await known(mongo_db, credential)
        for action in ("suspension", "reinstatement", "revocation"):
            answer = await client.post(
                f"/v1/credentials/{credential}/{action}",
                json={"reason": f"{action} requested"},
                headers=AS_OWNER,
            )
            assert answer.status_code == 202, answer.text
    types = [
        envelope.event_type
        for _, envelope in await log_of(settings)
        if envelope.subject == credential
    ]
    assert types == [
        models.CredentialIssued.event_type,
        models.CredentialSuspended.event_type,
        models.CredentialReinstated.event_type,
        models.CredentialRevoked.event_type,
    ]


async def test_a_change_a_dead_process_left_in_the_outbox_reaches_the_log(
    service_settings: SettingsFactory, mongo_db: AsyncDatabase[dict[str, object]]
) -> None:
    settings = await revocation_settings(service_settings)
    settings = settings.model_copy(update={"outbox_poll_seconds": 0.2})
    credential = new_id()
    async with serving(build_app(settings), BASE_URL) as client:
        await issue(settings, credential)
        await known(mongo_db, credential)
        # What a replica killed between its claim and the broker's ack leaves behind (its
        # marker a minute old, so past the grace in which a live request may still publish).
        data = models.CredentialRevoked(
            credential_id=credential,
            issuer_id=OWNER,
            holder_id=samples.SAMPLE_HOLDER,
            reason="left behind",
        )
        envelope = new_envelope(data, source=settings.source)
        dead = MongoCredentialRepository(mongo_db)
        await dead.mark_pending(
            credential, event_id=envelope.id, at=datetime.now(UTC) - timedelta(minutes=1)
        )
        claimed = await dead.claim(
            credential,
            issuer_id=OWNER,
            event_id=envelope.id,
            status="revoked",
            sources=frozenset({"active", "suspended"}),
            outbox=to_record(envelope),
        )
        assert claimed is not None

        async def relayed() -> list[Envelope] | None:
            found = await revocations_of(settings, credential)
            return found or None

        [event] = await eventually(relayed, "the relay published the event left behind")
        assert (event.id, event.data_as(models.CredentialRevoked).reason) == (
            envelope.id,
            "left behind",
        )

        async def cleared() -> bool:
            pending = await mongo_db[PENDING].count_documents({})
            return pending == 0 and await dead.outbox(credential) is None

        await eventually(cleared, "the outbox and its marker cleared")
        # A retry meets the revocation (409), not a claim stuck without an event.
        again = await revoke(client, credential, AS_OWNER)
        assert again.status_code == 409, again.text
    assert len(await revocations_of(settings, credential)) == 1
