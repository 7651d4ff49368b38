"""One contract for the expiry schedule and the expiry policies, run against the in-memory fakes
and MongoDB: buckets and their day index, the gated clock, the lease, and policies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from credreg_revocation.adapters.fakes import InMemoryExpiryPolicies, InMemoryExpirySchedule
from credreg_revocation.adapters.mongo_expiry import MongoExpiryPolicies, MongoExpirySchedule
from credreg_revocation.expiry import BUCKET, bucket_of, next_bucket
from credreg_revocation.ports import ExpiryPolicies, ExpirySchedule
from credreg_shared.events.models import Renewal

T0 = datetime(2026, 11, 29, 12, 0, 3, tzinfo=UTC)
FIRST = bucket_of(T0)
LATER = bucket_of(T0 + timedelta(days=2, hours=3))
LEASE = timedelta(seconds=30)


class ScheduleContract:
    """The behaviour every `ExpirySchedule` and `ExpiryPolicies` must have."""

    async def test_a_new_clock_opens_at_now_and_buckets_keep_their_entries_once(
        self, schedule: ExpirySchedule
    ) -> None:
        assert await schedule.closed() is None
        assert await schedule.opened(T0) == FIRST
        assert await schedule.opened(T0 + timedelta(days=1)) == FIRST, "the clock stays"
        await schedule.add(FIRST, ["expired|a", "expiring:7|b"])
        await schedule.add(FIRST, ["expired|a", "expired|c"])
        await schedule.add(LATER, ["expired|d"])
        assert await schedule.entries(FIRST) == ["expired|a", "expiring:7|b", "expired|c"]
        assert await schedule.entries(next_bucket(FIRST)) == []
        assert await schedule.buckets_between(bucket_of(T0 - BUCKET), LATER) == [FIRST, LATER]
        assert await schedule.buckets_between(FIRST, LATER) == [LATER]
        assert await schedule.buckets_between(bucket_of(T0 - BUCKET), FIRST) == [FIRST]

    async def test_the_lease_is_held_by_one_holder_until_it_lapses_or_is_released(
        self, schedule: ExpirySchedule
    ) -> None:
        held = await schedule.acquire("a", now=T0, until=T0 + LEASE)
        assert held is not None and held.holder == "a" and held.closed == held.done
        assert await schedule.acquire("b", now=T0 + timedelta(seconds=10), until=T0) is None
        assert await schedule.acquire("a", now=T0 + timedelta(seconds=10), until=T0 + LEASE)
        lapsed = T0 + LEASE + timedelta(seconds=1)
        taken = await schedule.acquire("b", now=lapsed, until=lapsed + LEASE)
        assert taken is not None and taken.holder == "b"
        await schedule.release("a")  # not its lease any more: nothing happens
        assert await schedule.acquire("a", now=lapsed, until=lapsed + LEASE) is None
        await schedule.release("b")
        assert await schedule.acquire("a", now=lapsed, until=lapsed + LEASE) is not None

    async def test_close_and_finish_are_compare_and_set_under_the_lease(
        self, schedule: ExpirySchedule
    ) -> None:
        held = await schedule.acquire("a", now=T0, until=T0 + LEASE)
        assert held is not None
        await schedule.add(FIRST, ["expired|a"])
        assert not await schedule.close("b", LATER, after=held.closed, until=T0 + LEASE)
        assert not await schedule.close("a", LATER, after=FIRST, until=T0 + LEASE), "moved"
        assert await schedule.close("a", LATER, after=held.closed, until=T0 + LEASE)
        assert await schedule.closed() == LATER
        assert await schedule.opened(T0) == next_bucket(LATER)
        assert not await schedule.finish("b", FIRST, until=T0 + LEASE)
        assert await schedule.finish("a", FIRST, until=T0 + LEASE)
        assert await schedule.entries(FIRST) == [], "a finished bucket's entries go"
        assert await schedule.buckets_between(held.done, LATER) == []
        state = await schedule.acquire("a", now=T0, until=T0 + LEASE)
        assert state is not None and (state.closed, state.done) == (LATER, FIRST)

    async def test_concurrent_writers_lose_no_entry(self, schedule: ExpirySchedule) -> None:
        await schedule.opened(T0)
        await asyncio.gather(*[schedule.add(FIRST, [f"expired|c-{n}"]) for n in range(30)])
        assert sorted(await schedule.entries(FIRST)) == sorted(f"expired|c-{n}" for n in range(30))

    async def test_policies_default_to_none_and_keep_what_is_set(
        self, policies: ExpiryPolicies
    ) -> None:
        assert await policies.lead_days("did:web:u.example") is None
        await policies.set_lead_days("did:web:u.example", (60, 7))
        assert await policies.lead_days("did:web:u.example") == (60, 7)
        assert await policies.lead_days("did:web:other.example") is None
        renewal = Renewal(url="https://u.example/renew", text="Take the refresher.")
        await policies.set_renewal("did:web:u.example", "urn:uuid:a", renewal)
        assert await policies.renewal("did:web:u.example", "urn:uuid:a") == renewal
        assert await policies.renewal("did:web:other.example", "urn:uuid:a") is None
        await policies.set_renewal("did:web:u.example", "urn:uuid:a", None)
        assert await policies.renewal("did:web:u.example", "urn:uuid:a") is None


class TestInMemory(ScheduleContract):
    @pytest.fixture
    def schedule(self) -> ExpirySchedule:
        return InMemoryExpirySchedule()

    @pytest.fixture
    def policies(self) -> ExpiryPolicies:
        return InMemoryExpiryPolicies()


@pytest.mark.integration
class TestMongo(ScheduleContract):
    @pytest.fixture
    def schedule(self, mongo_db: AsyncDatabase[dict[str, object]]) -> ExpirySchedule:
        return MongoExpirySchedule(mongo_db)

    @pytest.fixture
    def policies(self, mongo_db: AsyncDatabase[dict[str, object]]) -> ExpiryPolicies:
        return MongoExpiryPolicies(mongo_db)
