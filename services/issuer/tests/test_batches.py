"""Batches over fakes: stored whole, items validated one by one, issued once, resumable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from credreg_issuer.adapters.fakes import InMemoryBatches, in_memory_adapters
from credreg_issuer.batch_issuance import BatchWorker, IssueBatches
from credreg_issuer.batches import CHUNK_SIZE, MAX_ITEMS
from credreg_issuer.bootstrap import build_app
from credreg_shared.errors import PublishUnavailable
from credreg_shared.events import CREDENTIALS_TOPIC
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.fakes import PublishedRecord

from .fixtures import ADMIN, body, keeping_settings

DID = "did:web:issuer.example:institutions:uni-a"
OTHER = "did:web:issuer.example:institutions:uni-b"


@dataclass
class Issuer:
    app: FastAPI
    client: httpx.AsyncClient
    publisher: InMemoryPublisher
    store: InMemoryBatches
    keys: dict[str, str]

    def auth(self, institution: str = DID) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[institution]}"}

    async def post(
        self, items: list[dict[str, Any]], institution: str = DID, **headers: str
    ) -> httpx.Response:
        return await self.client.post(
            "/v1/credential-batches",
            json={"items": items},
            headers={**self.auth(institution), **headers},
        )

    async def view(self, batch_id: str, query: str = "") -> dict[str, Any]:
        answer = await self.client.get(
            f"/v1/credential-batches/{batch_id}{query}", headers=self.auth()
        )
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view

    @property
    def batches(self) -> IssueBatches:
        batches: IssueBatches = self.app.state.use_cases[IssueBatches]
        return batches

    def issued(self) -> list[PublishedRecord]:
        return [r for r in self.publisher.records if r.topic.endswith(CREDENTIALS_TOPIC)]

    def issued_ids(self) -> list[str]:
        return [r.key.decode() for r in self.issued()]


def items(n: int, prefix: str = "row") -> list[dict[str, Any]]:
    return [
        {"idempotency_key": f"{prefix}-{i}", "credential": body(holder=f"student-{i}@uni.example")}
        for i in range(n)
    ]


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    settings = keeping_settings(status_list_base_url="https://issuer.example")
    publisher = InMemoryPublisher()
    fakes = in_memory_adapters(publisher=publisher)
    assert isinstance(fakes.batches, InMemoryBatches)
    app = build_app(settings, fakes=fakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as client:
        keys = {}
        for slug, did in (("uni-a", DID), ("uni-b", OTHER)):
            created = await client.post(
                "/v1/institutions", json={"slug": slug, "name": slug}, headers=ADMIN
            )
            assert created.status_code == 201
            keys[did] = (
                await client.post(f"/v1/institutions/{did}/api-keys", headers=ADMIN)
            ).json()["key"]
        yield Issuer(app, client, publisher, fakes.batches, keys)


async def test_a_batch_is_stored_answered_202_then_issued_item_by_item(issuer: Issuer) -> None:
    wanted = items(450)  # three chunks
    wanted[7]["credential"]["valid_until"] = "2001-01-01T00:00:00Z"
    wanted[300]["credential"]["achievement"]["competencies"] = []

    answer = await issuer.post(wanted)

    assert answer.status_code == 202, answer.text
    batch = answer.json()
    assert answer.headers["location"].endswith(f"/v1/credential-batches/{batch['id']}")
    assert batch["status"] == "pending"
    assert batch["counts"] == {"total": 450, "accepted": 0, "rejected": 2, "pending": 448}
    assert issuer.issued() == []  # nothing issued before the worker runs

    assert await issuer.batches.run(batch["id"])

    done = await issuer.view(batch["id"])
    assert done["status"] == "done"
    assert done["counts"] == {"total": 450, "accepted": 448, "rejected": 2, "pending": 0}
    results = done["results"]
    assert [r["index"] for r in results] == list(range(450))
    assert results[7]["status"] == "rejected"
    assert results[7]["errors"][0]["field"] == "credential"
    assert "valid_until must be after valid_from" in results[7]["errors"][0]["message"]
    assert results[300]["errors"][0]["field"] == "credential.achievement.competencies"
    accepted = [r["credential_id"] for r in results if r["status"] == "accepted"]
    assert sorted(issuer.issued_ids()) == sorted(accepted)
    assert len(set(accepted)) == 448
    # Signed, with a status entry, like single issuances of a kept institution.
    first = json.loads(issuer.issued()[0].value)["credential"]
    assert "eddsa-rdfc-2022" in json.dumps(first["proof"])
    assert first["credentialStatus"]["statusPurpose"] == "revocation"


async def test_posting_the_same_batch_again_issues_nothing_twice(issuer: Issuer) -> None:
    first = (await issuer.post(items(250))).json()
    await issuer.batches.run(first["id"])
    again = (await issuer.post(items(250))).json()
    await issuer.batches.run(again["id"])

    assert again["id"] != first["id"]  # no batch key: a new batch, with the same items
    results = [(await issuer.view(b["id"]))["results"] for b in (first, again)]
    assert [r["credential_id"] for r in results[0]] == [r["credential_id"] for r in results[1]]
    assert len(issuer.issued()) == 250


async def test_a_batch_idempotency_key_finds_the_batch_and_refuses_another_body(
    issuer: Issuer,
) -> None:
    first = await issuer.post(items(3), **{"Idempotency-Key": "convocation-2026"})
    same = await issuer.post(items(3), **{"Idempotency-Key": "convocation-2026"})
    other = await issuer.post(items(4), **{"Idempotency-Key": "convocation-2026"})

    assert first.json()["id"] == same.json()["id"]
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"


async def test_an_item_key_used_before_for_another_credential_is_rejected_alone(
    issuer: Issuer,
) -> None:
    single = await issuer.client.post(
        "/v1/credentials",
        json=body(holder="someone-else@uni.example"),
        headers={**issuer.auth(), "Idempotency-Key": "row-1"},
    )
    assert single.status_code == 201
    batch = (await issuer.post(items(3))).json()
    await issuer.batches.run(batch["id"])

    results = (await issuer.view(batch["id"]))["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["errors"][0]["field"] == "idempotency_key"


async def test_a_crash_mid_batch_resumes_without_issuing_anything_twice(issuer: Issuer) -> None:
    batch = (await issuer.post(items(3 * CHUNK_SIZE))).json()
    published = 0
    original = issuer.publisher.publish_encoded

    async def fails_after_one_chunk(records: Any, *, topic: str) -> None:
        nonlocal published
        if published >= CHUNK_SIZE:
            raise PublishUnavailable("broker down")
        published += len(records)
        await original(records, topic=topic)

    issuer.publisher.publish_encoded = fails_after_one_chunk  # type: ignore[method-assign]
    with pytest.raises(PublishUnavailable):
        await issuer.batches.run(batch["id"])
    middle = await issuer.view(batch["id"])
    assert middle["status"] == "running"
    assert middle["counts"]["accepted"] == CHUNK_SIZE

    issuer.publisher.publish_encoded = original  # type: ignore[method-assign]
    assert await issuer.batches.run(batch["id"])

    assert (await issuer.view(batch["id"]))["counts"]["accepted"] == 3 * CHUNK_SIZE
    ids = issuer.issued_ids()
    assert len(ids) == len(set(ids)) == 3 * CHUNK_SIZE


async def test_results_page_on(issuer: Issuer) -> None:
    batch = (await issuer.post(items(30))).json()
    await issuer.batches.run(batch["id"])

    page = await issuer.view(batch["id"], "?offset=10&limit=15")

    assert [r["index"] for r in page["results"]] == list(range(10, 25))
    assert page["next_offset"] == 25
    assert (await issuer.view(batch["id"], "?offset=25&limit=15"))["next_offset"] is None


async def test_the_worker_issues_what_the_routes_queue(issuer: Issuer) -> None:
    batch = (await issuer.post(items(5))).json()
    worker = BatchWorker(issuer.batches, poll=0.05)

    async def stop_when_done() -> None:
        for _ in range(1000):
            if (await issuer.view(batch["id"]))["status"] == "done":
                break
            await asyncio.sleep(0.01)
        worker.stop()

    async with asyncio.timeout(10):
        await asyncio.gather(worker.run(), stop_when_done())
    assert len(issuer.issued()) == 5


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"items": []}, "at least one item"),
        ({"items": items(MAX_ITEMS + 1)}, "at most 10,000 items"),
        ({"items": items(2) + items(1)}, "appear more than once"),
        ({}, "Field required"),
        ({"items": [{"idempotency_key": "", "credential": {}}]}, "at least 1 character"),
    ],
    ids=["empty", "too-many", "duplicate-keys", "no-items", "empty-key"],
)
async def test_a_malformed_batch_is_refused_whole_and_nothing_is_stored(
    issuer: Issuer, payload: dict[str, Any], detail: str
) -> None:
    answer = await issuer.client.post("/v1/credential-batches", json=payload, headers=issuer.auth())

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.text
    assert issuer.store.batches == {}


async def test_a_body_over_32_mib_is_a_413(issuer: Issuer) -> None:
    answer = await issuer.client.post(
        "/v1/credential-batches",
        content=b"{" + b" " * (32 * 1024 * 1024) + b"}",
        headers={**issuer.auth(), "content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert issuer.store.batches == {}


async def test_a_batch_naming_another_institution_is_a_403(issuer: Issuer) -> None:
    answer = await issuer.client.post(
        "/v1/credential-batches",
        json={"institution": OTHER, "items": items(1)},
        headers=issuer.auth(DID),
    )
    assert answer.status_code == 403
    assert OTHER in answer.json()["detail"]


async def test_another_institution_cannot_see_a_batch(issuer: Issuer) -> None:
    batch = (await issuer.post(items(1))).json()
    answer = await issuer.client.get(
        f"/v1/credential-batches/{batch['id']}", headers=issuer.auth(OTHER)
    )
    assert answer.status_code == 404
    unauthenticated = await issuer.client.get(f"/v1/credential-batches/{batch['id']}")
    assert unauthenticated.status_code == 401


async def test_a_stop_between_chunks_hands_the_batch_over_at_once(issuer: Issuer) -> None:
    batch = (await issuer.post(items(3 * CHUNK_SIZE))).json()
    # Asked to stop from the start: the chunk under way is finished, then the batch handed on.
    assert not await issuer.batches.run(batch["id"], stopping=lambda: True)
    assert (await issuer.view(batch["id"]))["counts"]["accepted"] == CHUNK_SIZE

    # Another replica (another owner) takes it over without waiting for the lease to run out.
    other = IssueBatches(store=issuer.store, issue=issuer.batches.issue)
    assert await other.run(batch["id"])
    assert (await issuer.view(batch["id"]))["counts"]["accepted"] == 3 * CHUNK_SIZE
    assert len(issuer.issued()) == 3 * CHUNK_SIZE
