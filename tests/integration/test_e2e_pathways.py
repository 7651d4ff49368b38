"""Stackable pathways over real processes (issuer, revocation, registry) on real Kafka and the
MongoDB-wire server: an institution defines a pathway over achievements it issued, its back-fill
runs in the background to `done`, the holder's portfolio shows "3 of 4", the fourth credential
completes it — one `pathway.completed` on the log, one stacked credential awarded by the issuer —
and the completion redelivered (published again while the issuer is down, then read by the
restarted issuer) awards nothing more. A component revoked afterwards is shown with the
completion; the stacked credential stays active, and stays so once the pathway is deleted (a 404
then, and gone from the holder's progress)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from credreg_shared.events import models
from credreg_shared.events.cloudevents import from_record

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

Eventually = Callable[..., Awaitable[Any]]
UNI_A = {"Authorization": "Bearer key-uni-a"}
STACKED = "Data Analyst Certificate"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def issue(client: httpx.AsyncClient, issuer: str, holder: str, name: str) -> tuple[str, str]:
    """Issue a credential of achievement `name` to `holder`: (credential id, achievement id)."""
    body = {
        "holder_id": holder,
        "achievement": {"name": name, "competencies": [{"name": name, "code": name[:8]}]},
    }
    answer = await client.post(
        f"{issuer}/v1/credentials",
        json=body,
        headers={**UNI_A, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == 201, answer.text
    credential = answer.json()["credential"]
    return str(answer.json()["id"]), str(credential["credentialSubject"]["achievement"]["id"])


async def pathway_records(bootstrap: str, topic: str) -> list[Any]:
    """Every record of the pathways topic, from the beginning."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        found: list[Any] = []
        while not consumer.assignment():
            batch = await consumer.getmany(timeout_ms=500)
            found += [r for records in batch.values() for r in records]
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            batch = await consumer.getmany(timeout_ms=1000)
            found += [r for records in batch.values() for r in records]
        return found
    finally:
        await consumer.stop()


async def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether `group` has committed every partition of `topic` to its end."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        described = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return all(p in committed and committed[p].offset >= end for p, end in ends.items() if end > 0)


async def test_a_pathway_completes_once_with_one_stacked_credential(
    empty_stack: Any, eventually: Eventually
) -> None:
    for name in ("issuer", "revocation", "registry"):
        empty_stack.start(name)
    issuer, registry = empty_stack.url("issuer"), empty_stack.url("registry")
    revocation = empty_stack.url("revocation")
    bootstrap = empty_stack.base_env["CREDREG_KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"{empty_stack.base_env['CREDREG_TOPIC_NAMESPACE']}credreg.pathways"
    holder, other = f"did:example:{uuid.uuid4().hex}", f"did:example:{uuid.uuid4().hex}"
    pathway = f"data-analyst-{uuid.uuid4().hex[:6]}"
    names = ["Data Cleaning", "Statistics", "Visualisation", "SQL Basics"]
    async with httpx.AsyncClient(timeout=30) as client:
        held = [await issue(client, issuer, holder, name) for name in names[:3]]
        # The fourth achievement, issued so far to another learner only.
        _, fourth = await issue(client, issuer, other, names[3])
        achievements = [a for _, a in held] + [fourth]

        # Refused: an achievement the institution never issued, N > M (problem+json, 422).
        for bad in (
            {"name": "x", "achievement_ids": [*achievements[:3], "urn:uuid:never-issued"]},
            {"name": "x", "achievement_ids": achievements, "required": 5},
        ):
            refused = await client.put(f"{registry}/v1/pathways/{pathway}", json=bad, headers=UNI_A)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")

        definition = {
            "name": STACKED,
            "achievement_ids": achievements,
            "award": {
                "achievement": {
                    "name": STACKED,
                    "achievement_type": "Certificate",
                    "competencies": [{"name": "Analyse data", "code": "DA-1"}],
                }
            },
        }

        async def defined() -> dict[str, Any] | None:
            # 422 until the registry's view holds every achievement (the log is read async).
            answer = await client.put(
                f"{registry}/v1/pathways/{pathway}", json=definition, headers=UNI_A
            )
            return answer.json() if answer.status_code == 200 else None

        kept = await eventually(defined)
        assert kept["required"] == 4 and kept["achievement_ids"] == achievements

        async def backfilled() -> dict[str, Any] | None:
            # The holders who held the achievements are looked at in the background.
            answer = await client.get(f"{registry}/v1/pathways/{pathway}", headers=UNI_A)
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()["backfill"]
            return found if found["state"] == "done" else None

        done = await eventually(backfilled)
        assert done["credentials_seen"] >= 4 and done["holders_seen"] >= 2

        minted = await client.post(f"{registry}/v1/holders/{holder}/tokens", headers=UNI_A)
        assert minted.status_code == 201, minted.text
        token = bearer(minted.json()["token"])
        portfolio = f"{registry}/v1/holders/{holder}/credentials"

        async def progress() -> dict[str, Any] | None:
            answer = await client.get(portfolio, headers=token)
            assert answer.status_code == 200, answer.text
            found = [p for p in answer.json()["pathways"] if p["pathway_id"] == pathway]
            return found[0] if found else None

        assert (await eventually(progress))["summary"] == "3 of 4"

        last, _ = await issue(client, issuer, holder, names[3])

        async def stacked() -> list[dict[str, Any]] | None:
            answer = await client.get(portfolio, headers=token)
            found = [c for c in answer.json()["credentials"] if c["achievement_name"] == STACKED]
            return found or None

        [award] = await eventually(stacked)
        assert award["status"] == "active"
        completed = await progress()
        assert completed is not None and completed["completed"] is True
        assert completed["summary"] == "completed"

        # One completion on the log, with its derived id.
        records = await pathway_records(bootstrap, topic)
        completions = [
            r
            for r in records
            if dict(r.headers).get("ce_type") == models.PathwayCompleted.event_type.encode()
            and from_record(r.key, r.value, list(r.headers))
            .data_as(models.PathwayCompleted)
            .holder_id
            == holder
        ]
        assert len(completions) == 1
        assert completions[0].key == holder.encode()
        assert dict(completions[0].headers)["ce_id"].decode() == completed["completion_event_id"]

        # Redelivered: the issuer is stopped, the same record is published again (as a
        # relay, a replay or a redelivery would), and the restarted issuer reads it.
        empty_stack.services["issuer"].stop()
        record = completions[0]
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all") as producer:
            for _ in range(2):
                await producer.send_and_wait(
                    topic, record.value, key=record.key, headers=list(record.headers)
                )
        empty_stack.start("issuer")
        group = f"{empty_stack.env_for('issuer')['CREDREG_CONSUMER_GROUP']}-pathways"

        async def issuer_read_them() -> bool:
            return await caught_up(bootstrap, group, topic)

        await eventually(issuer_read_them)
        # … and the registry read everything the issuer published since (a second award too).
        registry_group = empty_stack.env_for("registry")["CREDREG_CONSUMER_GROUP"]
        credentials = f"{empty_stack.base_env['CREDREG_TOPIC_NAMESPACE']}credreg.credentials"

        async def registry_read_them() -> bool:
            return await caught_up(bootstrap, registry_group, credentials)

        await eventually(registry_read_them)
        answer = await client.get(portfolio, headers=token)
        awards = [c for c in answer.json()["credentials"] if c["achievement_name"] == STACKED]
        assert [c["id"] for c in awards] == [award["id"]]

        # A component revoked after the completion: shown; the stacked credential stays.
        revoked_id = held[1][0]

        async def revoked() -> httpx.Response | None:
            answer = await client.post(
                f"{revocation}/v1/credentials/{revoked_id}/revocation",
                json={"reason": "assessment withdrawn"},
                headers=UNI_A,
            )
            return answer if answer.status_code != 404 else None

        assert (await eventually(revoked)).status_code == 202

        async def revocation_shown() -> dict[str, Any] | None:
            found = await progress()
            return found if found and found["revoked_since_completion"] else None

        shown = await eventually(revocation_shown)
        assert shown["summary"] == "completed; a component was revoked since"
        assert shown["revoked_since_completion"] == [revoked_id]
        view = await client.get(f"{registry}/v1/credentials/{award['id']}", headers=token)
        assert view.json()["status"] == "active"
        records = await pathway_records(bootstrap, topic)
        again = [
            r for r in records if dict(r.headers).get("ce_id") == dict(record.headers)["ce_id"]
        ]
        assert len(again) == 3  # the original and the two we published: none from the registry

        # Deleted: a 404 from now on, gone from the holder's progress; the stacked credential
        # (and the completion on the log) stay.
        deleted = await client.delete(f"{registry}/v1/pathways/{pathway}", headers=UNI_A)
        assert deleted.status_code == 204, deleted.text
        gone = await client.get(f"{registry}/v1/pathways/{pathway}", headers=UNI_A)
        assert gone.status_code == 404
        assert await progress() is None
        view = await client.get(f"{registry}/v1/credentials/{award['id']}", headers=token)
        assert view.json()["status"] == "active"
