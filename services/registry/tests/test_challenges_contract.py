"""The challenges store, on the fake and on MongoDB: a challenge serves once, even to
concurrent takers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from credreg_registry.adapters.fakes import InMemoryChallenges
from credreg_registry.adapters.mongo import MongoChallenges
from credreg_registry.ports import Challenges

UNTIL = datetime(2026, 11, 29, 12, 5, tzinfo=UTC)


class ChallengesContract:
    async def test_a_challenge_is_unguessable_and_serves_once(self, store: Challenges) -> None:
        first = await store.create("did:key:z6Mka", expires_at=UNTIL)
        second = await store.create("did:key:z6Mka", expires_at=UNTIL)
        assert first != second and len(first) >= 40
        assert await store.take(first) == ("did:key:z6Mka", UNTIL)
        assert await store.take(first) is None
        assert await store.take("never-issued") is None

    async def test_concurrent_takers_get_it_once(self, store: Challenges) -> None:
        challenge = await store.create("did:key:z6Mkb", expires_at=UNTIL)
        taken = await asyncio.gather(*[store.take(challenge) for _ in range(10)])
        assert [t for t in taken if t is not None] == [("did:key:z6Mkb", UNTIL)]


class TestInMemory(ChallengesContract):
    @pytest.fixture
    def store(self) -> Challenges:
        return InMemoryChallenges()


@pytest.mark.integration
class TestMongo(ChallengesContract):
    @pytest.fixture
    def store(self, mongo_db: AsyncDatabase[dict[str, object]]) -> Challenges:
        return MongoChallenges(mongo_db)
