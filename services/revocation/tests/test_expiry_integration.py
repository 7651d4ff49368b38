"""Expiry over the real Kafka and MongoDB-wire server: two replicas of the revocation service
on one clock that the test moves, every notice on the log once, and the routes that set lead
times and renewal instructions."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from credreg_revocation.adapters.mongo import COLLECTION
from credreg_revocation.bootstrap import build_app
from credreg_revocation.settings import RevocationSettings
from credreg_shared.events import CREDENTIALS_TOPIC, models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.testing import SettingsFactory, eventually, read_log, serving

pytestmark = pytest.mark.integration

OWNER = samples.SAMPLE_ISSUER
AS_OWNER = {"Authorization": "Bearer key-owner"}
ACHIEVEMENT = "https://issuer.credreg.example/achievements/cpr-2026"
CREDENTIALS = 60


class Clock:
    """The replicas' time, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def notices(settings: RevocationSettings) -> list[Envelope]:
    """The expiry notices now on the credentials topic."""
    log = await read_log(
        settings.kafka_bootstrap_servers,
        settings.topic(CREDENTIALS_TOPIC),
        settings.topic_partitions,
    )
    return [
        envelope
        for _, envelope in log
        if isinstance(envelope.data, models.CredentialExpiring | models.CredentialExpired)
    ]


async def test_two_replicas_announce_every_notice_once_with_its_renewal(
    service_settings: SettingsFactory, mongo_db: AsyncDatabase[dict[str, object]]
) -> None:
    settings: RevocationSettings = await service_settings(
        RevocationSettings, api_keys={"key-owner": OWNER}, expiry_poll_seconds=0.1
    )
    clock = Clock()
    valid_until = clock.now + timedelta(days=20)
    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(CREDENTIALS)]
    first, second = build_app(settings, clock=clock), build_app(settings, clock=clock)
    async with serving(first, "http://a") as client, serving(second, "http://b"):
        policy = await client.put(
            "/v1/expiry-policy", json={"lead_days": [7, 14]}, headers=AS_OWNER
        )
        assert policy.status_code == 200, policy.text
        assert policy.json() == {"lead_days": [14, 7]}
        renewal = {"url": "https://uni.example/renew/cpr", "text": "Take the refresher."}
        put = await client.put(
            f"/v1/achievements/{ACHIEVEMENT}/renewal", json=renewal, headers=AS_OWNER
        )
        assert put.status_code == 200, put.text
        async with KafkaPublisher(settings.kafka_bootstrap_servers) as publisher:
            await publisher.publish_many(
                [
                    new_envelope(
                        samples.credential_issued(i).model_copy(
                            update={"valid_until": valid_until}
                        ),
                        source="urn:test:issuer",
                    )
                    for i in ids
                ],
                topic=settings.topic(CREDENTIALS_TOPIC),
            )

        async def all_known() -> bool:
            found = await mongo_db[COLLECTION].count_documents({"_id": {"$in": ids}})
            return found == CREDENTIALS

        await eventually(all_known, "both replicas' consumers recorded every credential")

        async def kinds_on_the_log(wanted: int) -> Counter[tuple[str, str, Any]] | None:
            found = Counter(
                (e.type, e.subject, getattr(e.data, "lead_days", None))
                for e in await notices(settings)
            )
            return found if sum(found.values()) >= wanted else None

        # Nothing is due yet; then 14 days before, 7 days before, and at validUntil.
        moments = [
            (valid_until - timedelta(days=14, seconds=-20), CREDENTIALS),
            (valid_until - timedelta(days=7, seconds=-20), 2 * CREDENTIALS),
            (valid_until + timedelta(seconds=20), 3 * CREDENTIALS),
        ]
        for moment, wanted in moments:
            clock.now = moment
            found = await eventually(
                lambda wanted=wanted: kinds_on_the_log(wanted), f"{wanted} notices on the log"
            )
        assert found is not None
        expected = Counter(
            {
                (kind, i, lead): 1
                for i in ids
                for kind, lead in (
                    (models.CredentialExpiring.event_type, 14),
                    (models.CredentialExpiring.event_type, 7),
                    (models.CredentialExpired.event_type, None),
                )
            }
        )
        assert found == expected, "each notice once, on the log, from two replicas"
        for envelope in await notices(settings):
            data = envelope.data
            assert isinstance(data, models.CredentialExpiring | models.CredentialExpired)
            assert data.renewal == models.Renewal(**renewal)
        statuses = {d["status"] async for d in mongo_db[COLLECTION].find({"_id": {"$in": ids}})}
        assert statuses == {"expired"}


async def test_the_settings_routes_refuse_bad_input_and_strangers(
    service_settings: SettingsFactory,
) -> None:
    settings: RevocationSettings = await service_settings(
        RevocationSettings, api_keys={"key-owner": OWNER}
    )
    async with serving(build_app(settings), "http://r") as client:
        assert (await client.get("/v1/expiry-policy", headers=AS_OWNER)).json() == {
            "lead_days": [30]
        }
        for bad in ([], [0], [731], [1, 2, 3, 4, 5, 6], ["x"]):
            answer = await client.put(
                "/v1/expiry-policy", json={"lead_days": bad}, headers=AS_OWNER
            )
            assert answer.status_code == 422, bad
            assert answer.headers["content-type"].startswith("application/problem+json")
        assert (await client.put("/v1/expiry-policy", json={"lead_days": [5]})).status_code == 401
        path = f"/v1/achievements/{ACHIEVEMENT}/renewal"
        missing = await client.get(path, headers=AS_OWNER)
        assert missing.status_code == 404, missing.text
        plain_http = {"url": "http://uni.example/renew", "text": "x"}
        assert (await client.put(path, json=plain_http, headers=AS_OWNER)).status_code == 422
        good = {"url": "https://uni.example/renew", "text": "Book a session."}
        assert (await client.put(path, json=good, headers=AS_OWNER)).status_code == 200
        assert (await client.get(path, headers=AS_OWNER)).json() == good
        assert (await client.delete(path, headers=AS_OWNER)).status_code == 204
        assert (await client.get(path, headers=AS_OWNER)).status_code == 404
