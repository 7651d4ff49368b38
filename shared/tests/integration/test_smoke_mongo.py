"""Smoke tests that prove the MongoDB-wire server is real: unique index, upserts, atomic updates."""

import asyncio

import pytest
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.integration


async def test_unique_index_violation_raises_duplicate_key_error(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    events = mongo_db["processed_events"]
    await events.create_index("event_id", unique=True)
    await events.insert_one({"event_id": "e-1", "effect": "first"})
    with pytest.raises(DuplicateKeyError):
        await events.insert_one({"event_id": "e-1", "effect": "second"})
    assert await events.count_documents({"event_id": "e-1"}) == 1
    assert (await events.find_one({"event_id": "e-1"}) or {})["effect"] == "first"


async def test_conditional_upsert_sets_inserts_once_and_increments(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    views = mongo_db["views"]

    async def apply(status: str) -> None:
        await views.update_one(
            {"_id": "cred-1"},
            {
                "$set": {"status": status},
                "$setOnInsert": {"issuer": "did:web:uni.example", "first_status": status},
                "$inc": {"version": 1},
            },
            upsert=True,
        )

    await apply("active")
    await apply("revoked")
    document = await views.find_one({"_id": "cred-1"})
    assert document == {
        "_id": "cred-1",
        "status": "revoked",
        "issuer": "did:web:uni.example",
        "first_status": "active",
        "version": 2,
    }


async def test_find_one_and_update_is_conditional_and_returns_the_new_document(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    lists = mongo_db["status_lists"]
    await lists.insert_one({"_id": "list-1", "next_free": 0, "version": 7})

    updated = await lists.find_one_and_update(
        {"_id": "list-1", "version": 7},
        {"$inc": {"next_free": 1, "version": 1}},
        return_document=ReturnDocument.AFTER,
    )
    stale = await lists.find_one_and_update(
        {"_id": "list-1", "version": 7},
        {"$inc": {"next_free": 1, "version": 1}},
        return_document=ReturnDocument.AFTER,
    )

    assert updated == {"_id": "list-1", "next_free": 1, "version": 8}
    assert stale is None, "an update conditioned on a stale version must not apply"
    assert await lists.find_one({"_id": "list-1"}) == updated


async def test_concurrent_updates_of_one_document_are_atomic(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    counters = mongo_db["counters"]
    await counters.insert_one({"_id": "c", "n": 0, "owner": None})

    await asyncio.gather(
        *[counters.update_one({"_id": "c"}, {"$inc": {"n": 1}}) for _ in range(40)]
    )
    claims = await asyncio.gather(
        *[
            counters.find_one_and_update(
                {"_id": "c", "owner": None},
                {"$set": {"owner": f"replica-{n}"}},
                return_document=ReturnDocument.AFTER,
            )
            for n in range(20)
        ]
    )

    document = await counters.find_one({"_id": "c"})
    assert document is not None
    assert document["n"] == 40, "concurrent $inc lost updates"
    winners = [claim for claim in claims if claim is not None]
    assert len(winners) == 1, "a conditional claim had more than one winner"
    assert document["owner"] == winners[0]["owner"]


async def test_concurrent_updates_in_two_databases_at_once_are_each_atomic(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    # The local FerretDB serialises read-modify-write commands per database (each its own
    # SQLite file): two services' databases write in parallel, each document still atomic.
    other = mongo_db.client[f"{mongo_db.name}_b"[:60]]
    try:
        counters = [mongo_db["counters"], other["counters"]]
        for collection in counters:
            await collection.insert_one({"_id": "c", "n": 0})
        await asyncio.gather(
            *[
                collection.update_one({"_id": "c"}, {"$inc": {"n": 1}})
                for _ in range(40)
                for collection in counters
            ],
            *[collection.delete_one({"_id": "gone"}) for collection in counters],
        )
        found = [await collection.find_one({"_id": "c"}) for collection in counters]
        assert [document["n"] if document else None for document in found] == [40, 40]
    finally:
        await mongo_db.client.drop_database(other.name)


async def test_a_dropped_collection_comes_back_under_its_name_with_its_indexes(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    # The local FerretDB drops a collection's table after its lock is released, under another
    # name (deploy/local/infra.py): the name and the index names must be free at once.
    bodies = mongo_db["bodies"]
    await bodies.create_index("holder", unique=True)
    await bodies.insert_many([{"_id": f"c-{n}", "holder": f"h-{n}"} for n in range(500)])
    assert await mongo_db.drop_collection("bodies") is not None
    assert "bodies" not in await mongo_db.list_collection_names()
    await bodies.create_index("holder", unique=True)
    await bodies.insert_one({"_id": "c-1", "holder": "h-1"})
    with pytest.raises(DuplicateKeyError):
        await bodies.insert_one({"_id": "c-2", "holder": "h-1"})
    assert [d async for d in bodies.find({})] == [{"_id": "c-1", "holder": "h-1"}]
    assert sorted(await bodies.index_information()) == ["_id_", "holder_1"]
