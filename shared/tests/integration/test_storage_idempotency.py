"""Exactly-once effects per event id, proven on the real MongoDB-wire server and on the fake."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from credreg_shared.storage import (
    EffectOutcome,
    IdempotentCollection,
    MongoIdempotentCollection,
    ProcessedEvents,
)
from credreg_shared.storage.fakes import InMemoryIdempotentCollection

pytestmark = pytest.mark.integration

REVOKE = {"$set": {"status": "revoked"}, "$inc": {"changes": 1}}


@pytest.fixture(params=["mongo", "in-memory"])
async def views(
    request: pytest.FixtureRequest, mongo_db: AsyncDatabase[dict[str, object]]
) -> AsyncIterator[IdempotentCollection]:
    """The same contract, once over the real server and once over the fake."""
    if request.param == "mongo":
        yield MongoIdempotentCollection(mongo_db["views"])
    else:
        yield InMemoryIdempotentCollection()


async def test_an_event_applied_twice_takes_effect_once(views: IdempotentCollection) -> None:
    first = await views.apply_once("cred-1", "evt-1", REVOKE)
    again = await views.apply_once("cred-1", "evt-1", REVOKE)

    assert (first, again) == (EffectOutcome.APPLIED, EffectOutcome.ALREADY_APPLIED)
    assert await views.get("cred-1") == {
        "_id": "cred-1",
        "status": "revoked",
        "changes": 1,
        "applied_events": ["evt-1"],
    }


async def test_distinct_events_each_take_effect(views: IdempotentCollection) -> None:
    for event_id in ("evt-1", "evt-2", "evt-1", "evt-3", "evt-2"):
        await views.apply_once("cred-1", event_id, {"$inc": {"changes": 1}})
    document = await views.get("cred-1") or {}
    assert document["changes"] == 3
    assert sorted(document["applied_events"]) == ["evt-1", "evt-2", "evt-3"]


async def test_concurrent_redeliveries_of_one_event_take_effect_once(
    views: IdempotentCollection,
) -> None:
    outcomes = await asyncio.gather(
        *(views.apply_once("cred-1", "evt-1", REVOKE) for _ in range(8))
    )

    assert outcomes.count(EffectOutcome.APPLIED) == 1
    assert outcomes.count(EffectOutcome.ALREADY_APPLIED) == 7
    assert (await views.get("cred-1") or {})["changes"] == 1


async def test_concurrent_distinct_events_on_a_new_document_all_take_effect(
    views: IdempotentCollection,
) -> None:
    events = [f"evt-{n}" for n in range(8)]
    outcomes = await asyncio.gather(
        *(views.apply_once("cred-new", event, {"$inc": {"changes": 1}}) for event in events)
    )

    assert outcomes == [EffectOutcome.APPLIED] * len(events)
    document = await views.get("cred-new") or {}
    assert document["changes"] == len(events)
    assert sorted(document["applied_events"]) == sorted(events)


async def test_concurrent_mixed_redeliveries_take_effect_once_per_event(
    views: IdempotentCollection,
) -> None:
    await views.apply_once("cred-1", "evt-0", {"$set": {"status": "active"}})
    deliveries = [f"evt-{n % 4}" for n in range(16)]
    outcomes = await asyncio.gather(
        *(views.apply_once("cred-1", event, {"$inc": {"changes": 1}}) for event in deliveries)
    )

    assert outcomes.count(EffectOutcome.APPLIED) == 3
    assert (await views.get("cred-1") or {})["changes"] == 3


async def test_without_upsert_a_missing_document_is_left_missing(
    views: IdempotentCollection,
) -> None:
    outcome = await views.apply_once("absent", "evt-1", REVOKE, upsert=False)
    assert outcome is EffectOutcome.NO_DOCUMENT
    assert await views.get("absent") is None


async def test_without_upsert_an_existing_document_is_updated_once(
    views: IdempotentCollection,
) -> None:
    assert await views.insert_once({"_id": "cred-1", "status": "active"})
    outcomes = [await views.apply_once("cred-1", "evt-1", REVOKE, upsert=False) for _ in "ab"]
    assert outcomes == [EffectOutcome.APPLIED, EffectOutcome.ALREADY_APPLIED]
    assert (await views.get("cred-1") or {})["status"] == "revoked"


async def test_insert_once_under_concurrent_redelivery(views: IdempotentCollection) -> None:
    results = await asyncio.gather(
        *(views.insert_once({"_id": "evt-1", "attempt": n}) for n in range(6))
    )
    assert results.count(True) == 1
    assert (await views.get("evt-1") or {})["_id"] == "evt-1"


async def test_processed_events_markers(views: IdempotentCollection) -> None:
    processed = ProcessedEvents(views)
    assert not await processed.seen("evt-1")
    assert await processed.record("evt-1", handler="notify")
    assert not await processed.record("evt-1", handler="notify")
    assert await processed.seen("evt-1")
    marker = await views.get("evt-1") or {}
    assert marker["handler"] == "notify"
    assert marker["processed_at"] is not None
