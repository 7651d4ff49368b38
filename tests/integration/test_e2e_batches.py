"""Batches over real processes: an issuer killed with SIGKILL in the middle of a batch resumes it
after a restart; every accepted item is one credential on the log, visible in the registry, and
posting the same batch again issues nothing twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.testing import read_log

from .conftest import Stack, create_api_key, create_institution, free_port, keep_institutions

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Eventually = Callable[..., Awaitable[Any]]
ITEMS = 2_000
BAD = {17, 1_234}


def batch() -> dict[str, Any]:
    items = []
    for n in range(ITEMS):
        credential: dict[str, Any] = {
            "holder_id": f"student-{n}@uni.example",
            "achievement": {
                "name": "Data Literacy",
                "competencies": [{"name": "Read charts", "code": "DL-1"}],
            },
        }
        if n in BAD:
            credential["valid_until"] = "2001-01-01T00:00:00Z"
        items.append({"idempotency_key": f"convocation-2026/{n}", "credential": credential})
    return {"items": items}


async def test_a_batch_survives_a_kill_of_the_issuer_and_issues_each_item_once(
    empty_stack: Stack, endpoints: Any, eventually: Eventually
) -> None:
    port = free_port()
    keep_institutions(
        empty_stack,
        port,
        # Short leases: the restarted issuer takes over the dead one's batch soon.
        CREDREG_BATCH_LEASE_SECONDS="3",
        CREDREG_BATCH_POLL_SECONDS="1",
        CREDREG_PUBLISH_TIMEOUT_SECONDS="3",
    )
    issuer = empty_stack.start("issuer", port=port)
    registry = empty_stack.start("registry")
    url = issuer.url
    async with httpx.AsyncClient(timeout=60) as client:
        did = await create_institution(client, url, "batch-uni", port)
        key = await create_api_key(client, url, did, "issue")
        auth = {"Authorization": f"Bearer {key}"}

        posted = await client.post(f"{url}/v1/credential-batches", json=batch(), headers=auth)
        assert posted.status_code == 202, posted.text
        batch_id = posted.json()["id"]

        async def view() -> dict[str, Any]:
            answer = await client.get(f"{url}/v1/credential-batches/{batch_id}", headers=auth)
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return found

        async def some_issued() -> dict[str, Any] | None:
            found = await view()
            return found if found["counts"]["accepted"] >= 200 else None

        middle = await eventually(some_issued, within=120)
        issuer.kill()  # SIGKILL, in the middle of the batch
        assert middle["counts"]["accepted"] < ITEMS - len(BAD), "the batch ended before the kill"

        issuer = empty_stack.start("issuer", port=port)

        async def done() -> dict[str, Any] | None:
            found = await view()
            return found if found["status"] == "done" else None

        finished = await eventually(done, within=240)
        assert finished["counts"] == {
            "total": ITEMS,
            "accepted": ITEMS - len(BAD),
            "rejected": len(BAD),
            "pending": 0,
        }
        results = []
        offset: int | None = 0
        while offset is not None:
            page = (
                await client.get(
                    f"{url}/v1/credential-batches/{batch_id}?offset={offset}", headers=auth
                )
            ).json()
            results += page["results"]
            offset = page["next_offset"]
        assert [r["index"] for r in results] == list(range(ITEMS))
        assert {r["index"] for r in results if r["status"] == "rejected"} == BAD
        accepted = {r["credential_id"] for r in results if r["status"] == "accepted"}
        assert len(accepted) == ITEMS - len(BAD)

        # The same batch again: the same credentials, nothing new on the log.
        again = await client.post(f"{url}/v1/credential-batches", json=batch(), headers=auth)
        batch_id = again.json()["id"]
        await eventually(done, within=120)
        repeated = (await view())["results"]
        assert {r["credential_id"] for r in repeated if r["status"] == "accepted"} <= accepted

        env = empty_stack.env_for("issuer")
        log = await read_log(
            endpoints.kafka_bootstrap,
            f"{env['CREDREG_TOPIC_NAMESPACE']}{CREDENTIALS_TOPIC}",
            3,
        )
        issued = [e for _, e in log if e.type == models.CredentialIssued.event_type]
        # A kill between a publish and its mark may publish a record twice: the same event id,
        # which consumers apply once. Never a second credential for one item.
        assert {e.data_as(models.CredentialIssued).credential_id for e in issued} == accepted
        assert len({e.id for e in issued}) == len(accepted)

        async def all_visible() -> dict[str, Any] | None:
            stats: dict[str, Any] = (await client.get(f"{registry.url}/v1/stats")).json()
            return stats if stats["credentials"] == len(accepted) else None

        await eventually(all_visible, within=120)
        one = issued[0].data_as(models.CredentialIssued).credential
        assert one["credentialStatus"]["statusPurpose"] == "revocation"
