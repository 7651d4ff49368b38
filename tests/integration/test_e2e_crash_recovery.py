"""A registry killed with SIGKILL mid-stream loses nothing and doubles nothing when restarted.

The registry folds and writes a consumed batch at a time; a kill lands, most of the time, in the
middle of one of its bulk writes (it spends most of its time there).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import KafkaPublisher, ensure_topics

SAMPLE_READER = {"Authorization": "Bearer key-sample-issuer"}
"""The stack's API key of the sample events' issuer (conftest's `API_KEYS`)."""

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


HOLDERS = 300
PER_HOLDER = 5
REVOKED, SUSPENDED, REINSTATED = range(0, 300), range(300, 500), range(300, 400)


def lifecycle_stream() -> tuple[list[Envelope], dict[str, list[str]], dict[str, list[str]]]:
    """Issuances of 1,500 credentials (5 per holder), then revocations, suspensions and
    reinstatements; with each credential's event ids (in issue order) and each holder's
    credentials."""
    common = {"issuer_id": samples.SAMPLE_ISSUER}
    issued = [
        samples.credential_issued(f"urn:uuid:{uuid.uuid4()}", f"did:example:learner-{h}")
        for h in range(HOLDERS)
        for _ in range(PER_HOLDER)
    ]
    later: list[models.EventData] = []
    for n in REVOKED:
        later.append(_follow(models.CredentialRevoked, issued[n], reason="outdated", **common))
    for n in SUSPENDED:
        later.append(_follow(models.CredentialSuspended, issued[n], reason="audit", **common))
    for n in REINSTATED:
        later.append(_follow(models.CredentialReinstated, issued[n], **common))
    envelopes = [new_envelope(data, source="urn:test") for data in [*issued, *later]]
    events: dict[str, list[str]] = {}
    for envelope in envelopes:
        events.setdefault(envelope.data.event_subject(), []).append(envelope.id)
    holders: dict[str, list[str]] = {}
    for data in issued:
        holders.setdefault(data.holder_id, []).append(data.credential_id)
    return envelopes, events, holders


def _follow(
    kind: type[models.CredentialEvent], issued: models.CredentialIssued, **extra: Any
) -> models.CredentialEvent:
    return kind.model_validate(
        {"credential_id": issued.credential_id, "holder_id": issued.holder_id, **extra}
    )


async def every_page(
    client: httpx.AsyncClient, url: str, params: dict[str, Any] | None = None
) -> list[Any]:
    """Every credential of a paginated answer, following `next_cursor`."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        response = await client.get(
            url, params={**(params or {}), **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["credentials"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def final_status(n: int) -> str:
    """The status credential `n` of `lifecycle_stream` ends in."""
    if n in REVOKED:
        return "revoked"
    if n in SUSPENDED and n not in REINSTATED:
        return "suspended"
    return "active"


async def test_registry_killed_twice_mid_batch_keeps_counts_portfolios_and_credentials_exact(
    endpoints: Any,
    empty_stack: Any,
    eventually: Callable[..., Awaitable[Any]],
) -> None:
    """SIGKILL while batches are being written, twice: every figure exact after the restart."""
    stack = empty_stack
    topic = f"{stack.base_env['CREDREG_TOPIC_NAMESPACE']}credreg.credentials"
    await ensure_topics(endpoints.kafka_bootstrap, {topic: 3})
    envelopes, events, holders = lifecycle_stream()
    async with (
        KafkaPublisher(endpoints.kafka_bootstrap) as publisher,
        # Portfolios are read as the sample events' issuer (the public gets none).
        httpx.AsyncClient(timeout=30, headers=SAMPLE_READER) as client,
    ):
        await publisher.publish_many(envelopes, topic=topic)
        registry = stack.start("registry")
        for seen in (200, 800):
            url = registry.url
            await eventually(lambda url=url, seen=seen: _at_least(client, url, seen), within=120)
            registry.kill()  # SIGKILL while the backlog is being folded and written
            registry = stack.start("registry")  # same database and consumer group
        expected = {
            "credentials": HOLDERS * PER_HOLDER,
            "by_status": {"active": 1100, "suspended": 100, "expired": 0, "revoked": 300},
            "awaiting_issuance": 0,
        }
        # Counts are written before a batch's documents, so they may lead them by a batch:
        # each figure is awaited, and the monotonic ones may never overshoot.
        await eventually(lambda: _stats_are(client, registry.url, expected), within=180)
        # Every portfolio lists its holder's credentials once each; every credential reads by
        # its id (as its issuer) with the status its events end in.
        for holder, credentials in holders.items():
            url = f"{registry.url}/v1/holders/{holder}/credentials"
            await eventually(
                lambda url=url, credentials=credentials: _all_of(client, url, {}, credentials)
            )
        wanted = {credential: final_status(n) for n, credential in enumerate(events)}
        await eventually(lambda: _statuses_are(client, registry.url, wanted), within=120)
        assert (await client.get(f"{registry.url}/v1/stats")).json() == expected

    database = stack.env_for("registry")["CREDREG_MONGODB_DATABASE"]
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(endpoints.mongodb_uri)
    try:
        view = mongo[database]["credentials"]
        documents = [d async for d in view.find({}, {"applied_events": 1})]
        assert {d["_id"]: d["applied_events"] for d in documents} == events
    finally:
        await mongo.drop_database(database)
        await mongo.close()
    assert registry.stop() == 0


async def _stats_are(client: httpx.AsyncClient, url: str, expected: dict[str, Any]) -> bool:
    """True once the stats are `expected`; fails at once if a count went past it."""
    try:
        stats = (await client.get(f"{url}/v1/stats")).json()
    except httpx.HTTPError:
        return False
    # Issuances and revocations only ever add up (suspensions come and go on the way).
    assert stats["by_status"]["revoked"] <= expected["by_status"]["revoked"], stats
    assert stats["credentials"] <= expected["credentials"], stats
    return bool(stats == expected)


async def _statuses_are(client: httpx.AsyncClient, url: str, wanted: dict[str, str]) -> bool:
    """True once every credential reads by its id with the status wanted (200 each)."""
    limit = asyncio.Semaphore(20)

    async def status(credential: str) -> str | None:
        async with limit:
            response = await client.get(f"{url}/v1/credentials/{credential}")
        return response.json()["status"] if response.status_code == 200 else None

    try:
        found = await asyncio.gather(*(status(c) for c in wanted))
    except httpx.HTTPError:
        return False
    return dict(zip(wanted, found, strict=True)) == wanted


async def _all_of(
    client: httpx.AsyncClient, url: str, params: dict[str, Any], wanted: list[str]
) -> bool:
    """True once the paginated answer lists exactly `wanted`, each once."""
    try:
        found = [line["id"] for line in await every_page(client, url, params)]
    except httpx.HTTPError:
        return False
    assert len(found) == len(set(found)), "a credential listed twice"
    return sorted(found) == sorted(wanted)
