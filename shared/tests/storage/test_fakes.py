"""The in-memory storage fakes behave like the MongoDB adapter for the operators they support."""

import uuid

import pytest

from credreg_shared.storage import EffectOutcome, ProcessedEvents, index, update_with_marker
from credreg_shared.storage.fakes import InMemoryIdempotentCollection, apply_update


async def test_apply_once_applies_an_event_once() -> None:
    views = InMemoryIdempotentCollection()
    revoke = {"$set": {"status": "revoked"}, "$inc": {"changes": 1}}

    first = await views.apply_once("cred-1", "evt-1", revoke)
    second = await views.apply_once("cred-1", "evt-1", revoke)

    assert (first, second) == (EffectOutcome.APPLIED, EffectOutcome.ALREADY_APPLIED)
    assert await views.get("cred-1") == {
        "_id": "cred-1",
        "status": "revoked",
        "changes": 1,
        "applied_events": ["evt-1"],
    }


async def test_set_on_insert_only_on_the_first_event() -> None:
    views = InMemoryIdempotentCollection()
    await views.apply_once("c", "e1", {"$setOnInsert": {"first": "e1"}, "$set": {"last": "e1"}})
    await views.apply_once("c", "e2", {"$setOnInsert": {"first": "e2"}, "$set": {"last": "e2"}})
    assert await views.get("c") == {
        "_id": "c",
        "first": "e1",
        "last": "e2",
        "applied_events": ["e1", "e2"],
    }


async def test_without_upsert_a_missing_document_is_reported() -> None:
    views = InMemoryIdempotentCollection()
    outcome = await views.apply_once("nope", "e1", {"$set": {"x": 1}}, upsert=False)
    assert outcome is EffectOutcome.NO_DOCUMENT
    assert await views.get("nope") is None


async def test_uuid_event_ids_are_stored_as_strings() -> None:
    views = InMemoryIdempotentCollection()
    event_id = uuid.uuid4()
    await views.apply_once("c", event_id, {"$set": {"x": 1}})
    assert await views.apply_once("c", str(event_id), {"$set": {"x": 2}}) is (
        EffectOutcome.ALREADY_APPLIED
    )
    assert (await views.get("c") or {})["x"] == 1


async def test_get_returns_a_copy() -> None:
    views = InMemoryIdempotentCollection()
    await views.apply_once("c", "e1", {"$set": {"tags": ["a"]}})
    (await views.get("c") or {})["tags"].append("mutated")
    assert (await views.get("c") or {})["tags"] == ["a"]


async def test_insert_once_refuses_a_second_document_with_the_same_id() -> None:
    outbox = InMemoryIdempotentCollection()
    assert await outbox.insert_once({"_id": "evt-1", "n": 1}) is True
    assert await outbox.insert_once({"_id": "evt-1", "n": 2}) is False
    assert await outbox.get("evt-1") == {"_id": "evt-1", "n": 1}
    with pytest.raises(ValueError, match="_id"):
        await outbox.insert_once({"n": 3})


async def test_processed_events_records_each_event_once() -> None:
    processed = ProcessedEvents(InMemoryIdempotentCollection())
    assert await processed.seen("evt-1") is False
    assert await processed.record("evt-1", topic="credreg.credentials") is True
    assert await processed.record("evt-1", topic="credreg.credentials") is False
    assert await processed.seen("evt-1") is True


def test_update_with_marker_adds_the_event_id_without_mutating_the_input() -> None:
    update = {"$set": {"status": "active"}, "$addToSet": {"tags": "x"}}
    assert update_with_marker(update, "e1") == {
        "$set": {"status": "active"},
        "$addToSet": {"tags": "x", "applied_events": "e1"},
    }
    assert update == {"$set": {"status": "active"}, "$addToSet": {"tags": "x"}}


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"status": "replacement documents are refused"},
        {"$set": {"applied_events": []}},
        {"$unset": {"applied_events.0": ""}},
    ],
)
def test_update_with_marker_refuses_replacements_and_marker_edits(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        update_with_marker(bad, "e1")


def test_apply_update_supports_the_common_operators() -> None:
    document = {"_id": "d", "n": 5, "high": 9, "tags": ["a"], "old": ["a", "b", "a"], "gone": 1}
    document["nested"] = {"x": 1}
    update = {
        "$set": {"nested.y": 2},
        "$unset": {"gone": ""},
        "$inc": {"n": 2, "fresh": 1},
        "$min": {"low": 3},
        "$max": {"high": 6, "higher": 1},
        "$push": {"log": {"$each": ["p1", "p2"]}},
        "$addToSet": {"tags": {"$each": ["a", "b"]}},
        "$pull": {"old": "a"},
        "$setOnInsert": {"created": True},
    }
    assert apply_update(document, update, insert=False) == {
        "_id": "d",
        "n": 7,
        "high": 9,
        "higher": 1,
        "fresh": 1,
        "low": 3,
        "tags": ["a", "b"],
        "old": ["b"],
        "nested": {"x": 1, "y": 2},
        "log": ["p1", "p2"],
    }


def test_apply_update_refuses_what_it_cannot_emulate() -> None:
    with pytest.raises(NotImplementedError):
        apply_update({}, {"$rename": {"a": "b"}}, insert=False)
    with pytest.raises(NotImplementedError):
        apply_update({}, {"$push": {"a": {"$each": [1], "$slice": -1}}}, insert=False)


def test_index_helper_names_indexes_like_pymongo() -> None:
    spec = index("views", "holder", ("issued_at", -1), unique=True)
    assert spec.name == "holder_1_issued_at_-1"
    assert spec.keys == (("holder", 1), ("issued_at", -1))
    assert spec.model().document == {
        "key": {"holder": 1, "issued_at": -1},
        "name": "holder_1_issued_at_-1",
        "unique": True,
    }
    with pytest.raises(ValueError):
        index("views")
