"""ensure_indexes creates what services declare, is idempotent and refuses conflicting specs."""

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_shared.storage import IndexMismatchError, ensure_indexes, index

pytestmark = pytest.mark.integration

SPECS = [
    index("views", "holder_id", ("issued_at", -1)),
    index("views", "share_token", unique=True),
    index("subscriptions", "target_url", unique=True, name="one_subscription_per_url"),
]


async def test_creates_the_declared_indexes(mongo_db: AsyncDatabase[dict[str, object]]) -> None:
    await ensure_indexes(mongo_db, SPECS)

    views = await mongo_db["views"].index_information()
    subscriptions = await mongo_db["subscriptions"].index_information()
    assert views["holder_id_1_issued_at_-1"]["key"] == [("holder_id", 1), ("issued_at", -1)]
    assert views["share_token_1"]["unique"] is True
    assert subscriptions["one_subscription_per_url"]["unique"] is True


async def test_running_twice_changes_nothing(mongo_db: AsyncDatabase[dict[str, object]]) -> None:
    await ensure_indexes(mongo_db, SPECS)
    before = await mongo_db["views"].index_information()

    await ensure_indexes(mongo_db, SPECS)

    assert await mongo_db["views"].index_information() == before


async def test_unique_index_is_enforced(mongo_db: AsyncDatabase[dict[str, object]]) -> None:
    await ensure_indexes(mongo_db, SPECS)
    await mongo_db["views"].insert_one({"_id": "a", "share_token": "t1"})
    with pytest.raises(DuplicateKeyError):
        await mongo_db["views"].insert_one({"_id": "b", "share_token": "t1"})


async def test_a_conflicting_definition_is_refused(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    await ensure_indexes(mongo_db, [index("views", "share_token", name="token")])
    with pytest.raises(IndexMismatchError, match="unique"):
        await ensure_indexes(mongo_db, [index("views", "share_token", unique=True, name="token")])
