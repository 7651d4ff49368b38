"""One contract per repository, run against the in-memory fakes and the MongoDB adapters.

The fakes stand in for MongoDB in the unit tests, so both must agree on what each call does;
the MongoDB runs also show that a claim is atomic across concurrent callers on the real server.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bson.codec_options import CodecOptions
from pymongo.asynchronous.database import AsyncDatabase

from credreg_notifier.adapters.fakes import (
    InMemoryDeliveries,
    InMemoryOwnerQuotas,
    InMemorySubscriptions,
)
from credreg_notifier.adapters.mongo import (
    DELIVERIES,
    DUE,
    INDEXES,
    SUBSCRIPTIONS,
    MongoDeliveries,
    MongoOwnerQuotas,
    MongoSubscriptions,
)
from credreg_notifier.domain import DEAD, DELIVERED, IN_FLIGHT, PENDING, Settlement
from credreg_notifier.ports import DeliveryRepository, OwnerQuotas, SubscriptionRepository
from credreg_shared.storage import ensure_indexes
from credreg_shared.storage.ports import Document

# Whole seconds: MongoDB keeps milliseconds only.
ISSUER = "did:web:uni.example"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
HOLDER, CREDENTIAL = "did:example:holder", "urn:uuid:c-1"


async def service_db(mongo_db: AsyncDatabase[Document]) -> AsyncDatabase[Document]:
    """The test's database as the service sees it: aware datetimes, the service's indexes."""
    db: AsyncDatabase[Document] = mongo_db.with_options(codec_options=CodecOptions(tz_aware=True))
    await ensure_indexes(db, INDEXES)
    return db


def subscription(
    sid: str,
    *,
    holder_id: str | None = None,
    credential_id: str | None = None,
    issuer_id: str | None = None,
    owner: str = "holder:x",
) -> Document:
    return {
        "_id": sid,
        "owner": owner,
        "holder_id": holder_id,
        "credential_id": credential_id,
        "issuer_id": issuer_id,
        "url": f"https://w.example/{sid}",
        "secret": "whsec_" + "A" * 44,
        "created_at": NOW,
    }


def delivery(
    did: str, *, subscription_id: str = "sub", due: datetime = NOW, created: datetime = NOW
) -> Document:
    return {
        "_id": did,
        "subscription_id": subscription_id,
        "event_id": f"event-{did}",
        "type": "org.credreg.credential.revoked.v1",
        "body": '{"data":{}}',
        "status": PENDING,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": due,
        "created_at": created,
    }


class SubscriptionContract:
    """The behaviour every `SubscriptionRepository` must have; subclasses give `subscriptions`."""

    async def test_an_added_subscription_is_found_until_removed(
        self, subscriptions: SubscriptionRepository
    ) -> None:
        assert await subscriptions.get("s-1") is None
        await subscriptions.add(subscription("s-1", holder_id=HOLDER))
        assert await subscriptions.get("s-1") == subscription("s-1", holder_id=HOLDER)
        assert await subscriptions.remove("s-1") is True
        assert await subscriptions.get("s-1") is None
        assert await subscriptions.remove("s-1") is False

    async def test_matching_finds_subscriptions_to_the_credential_its_holder_or_its_issuer(
        self, subscriptions: SubscriptionRepository
    ) -> None:
        await subscriptions.add(subscription("by-holder", holder_id=HOLDER))
        await subscriptions.add(subscription("by-credential", credential_id=CREDENTIAL))
        await subscriptions.add(subscription("by-issuer", issuer_id=ISSUER))
        await subscriptions.add(subscription("other-holder", holder_id="did:example:other"))
        await subscriptions.add(subscription("other-credential", credential_id="urn:uuid:c-2"))
        await subscriptions.add(subscription("other-issuer", issuer_id="did:web:o.example"))
        found = await subscriptions.matching(
            credential_id=CREDENTIAL, holder_id=HOLDER, issuer_id=ISSUER
        )
        assert sorted(s["_id"] for s in found) == ["by-credential", "by-holder", "by-issuer"]
        nothing = await subscriptions.matching(
            credential_id="urn:uuid:x", holder_id="nobody", issuer_id="did:web:n.example"
        )
        assert nothing == []

    async def test_a_batch_is_matched_target_by_target_in_order(
        self, subscriptions: SubscriptionRepository
    ) -> None:
        await subscriptions.add(subscription("by-holder", holder_id=HOLDER))
        await subscriptions.add(subscription("by-credential", credential_id=CREDENTIAL))
        await subscriptions.add(subscription("other-holder", holder_id="did:example:other"))
        found = await subscriptions.matching_many(
            [
                (CREDENTIAL, HOLDER, ISSUER),
                ("urn:uuid:x", "did:example:other", ISSUER),
                ("urn:uuid:y", "nobody", ISSUER),
                ("urn:uuid:z", HOLDER, ISSUER),
            ]
        )
        assert [sorted(s["_id"] for s in each) for each in found] == [
            ["by-credential", "by-holder"],
            ["other-holder"],
            [],
            ["by-holder"],
        ]
        assert await subscriptions.matching_many([]) == []

    async def test_a_removed_subscription_matches_no_more_and_entries_name_their_owner(
        self, subscriptions: SubscriptionRepository
    ) -> None:
        await subscriptions.add(subscription("mine", holder_id=HOLDER, owner="holder:h"))
        await subscriptions.add(subscription("theirs", holder_id=HOLDER, owner="institution:u"))
        found = await subscriptions.matching(
            credential_id=CREDENTIAL, holder_id=HOLDER, issuer_id=ISSUER
        )
        assert sorted((s["_id"], s["owner"]) for s in found) == [
            ("mine", "holder:h"),
            ("theirs", "institution:u"),
        ]
        assert await subscriptions.remove("mine")
        found = await subscriptions.matching(
            credential_id=CREDENTIAL, holder_id=HOLDER, issuer_id=ISSUER
        )
        assert [s["_id"] for s in found] == ["theirs"]

    async def test_a_new_secret_keeps_the_previous_one_beside_it(
        self, subscriptions: SubscriptionRepository
    ) -> None:
        await subscriptions.add(subscription("s-1", holder_id=HOLDER))
        until = NOW.replace(hour=13)
        assert await subscriptions.replace_secret(
            "s-1", secret="sealed:new", previous="sealed:old", previous_until=until
        )
        found = await subscriptions.get("s-1")
        assert found is not None
        assert (found["secret"], found["previous_secret"]) == ("sealed:new", "sealed:old")
        assert found["previous_until"] == until
        assert not await subscriptions.replace_secret(
            "gone", secret="x", previous="y", previous_until=until
        )

    async def test_an_owner_lists_its_own_subscriptions_oldest_first(
        self, subscriptions: SubscriptionRepository
    ) -> None:
        for n, owner in enumerate(("holder:a", "holder:b", "holder:a", "institution:a")):
            document = subscription(f"s-{n}", holder_id="a", owner=owner)
            await subscriptions.add({**document, "created_at": NOW.replace(minute=59 - n)})
        found = await subscriptions.owned_by("holder:a", limit=10)
        assert [s["_id"] for s in found] == ["s-2", "s-0"]
        assert [s["_id"] for s in await subscriptions.owned_by("holder:a", limit=1)] == ["s-2"]

    async def test_changing_an_answer_changes_nothing_stored(
        self, subscriptions: SubscriptionRepository
    ) -> None:
        await subscriptions.add(subscription("s-1", holder_id=HOLDER))
        found = await subscriptions.get("s-1")
        assert found is not None
        found["url"] = "https://evil.example/"
        assert await subscriptions.get("s-1") == subscription("s-1", holder_id=HOLDER)


class DeliveryContract:
    """The behaviour every `DeliveryRepository` must have; subclasses give `deliveries`."""

    async def claim(
        self, deliveries: DeliveryRepository, token: str, now: datetime = NOW
    ) -> Document | None:
        return await deliveries.claim_due(now=now, lease_until=now + LEASE, lease_token=token)

    async def listed(self, deliveries: DeliveryRepository, sid: str = "sub") -> list[Document]:
        return await deliveries.of_subscription(sid, limit=100)

    async def test_add_once_keeps_the_first_delivery_under_an_id(
        self, deliveries: DeliveryRepository
    ) -> None:
        assert await deliveries.add_once(delivery("d-1")) is True
        assert await deliveries.add_once(delivery("d-1") | {"type": "changed"}) is False
        [stored] = await self.listed(deliveries)
        assert stored["type"] == "org.credreg.credential.revoked.v1"

    async def test_a_batch_adds_only_the_deliveries_not_kept_yet(
        self, deliveries: DeliveryRepository
    ) -> None:
        assert await deliveries.add_once(delivery("d-1")) is True
        batch = [delivery("d-1") | {"type": "changed"}, delivery("d-2"), delivery("d-3")]
        assert await deliveries.add_many_once(batch) == {"d-2", "d-3"}
        assert await deliveries.add_many_once(batch) == set(), "a redelivered batch adds none"
        stored = {d["_id"]: d["type"] for d in await self.listed(deliveries)}
        assert stored == {
            "d-1": "org.credreg.credential.revoked.v1",
            "d-2": "org.credreg.credential.revoked.v1",
            "d-3": "org.credreg.credential.revoked.v1",
        }
        assert await deliveries.add_many_once([]) == set()

    async def test_a_due_delivery_is_claimed_once_under_a_lease(
        self, deliveries: DeliveryRepository
    ) -> None:
        assert await self.claim(deliveries, "t-0") is None, "nothing planned"
        await deliveries.add_once(delivery("d-1"))
        claimed = await self.claim(deliveries, "t-1")
        assert claimed is not None
        assert (claimed["_id"], claimed["status"], claimed["attempts"]) == ("d-1", IN_FLIGHT, 1)
        assert (claimed["lease_token"], claimed["lease_until"]) == ("t-1", NOW + LEASE)
        assert claimed["body"] == '{"data":{}}', "the worker needs the body it signs"
        assert await self.claim(deliveries, "t-2") is None, "the lease holds"
        assert await self.claim(deliveries, "t-2", NOW + LEASE - timedelta(seconds=1)) is None

    async def test_a_delivery_is_not_claimed_before_it_is_due(
        self, deliveries: DeliveryRepository
    ) -> None:
        await deliveries.add_once(delivery("d-1", due=NOW + timedelta(seconds=5)))
        assert await self.claim(deliveries, "t-1") is None
        claimed = await self.claim(deliveries, "t-1", NOW + timedelta(seconds=5))
        assert claimed is not None and claimed["_id"] == "d-1"

    async def test_an_expired_lease_is_reclaimed_and_the_lost_lease_cannot_settle(
        self, deliveries: DeliveryRepository
    ) -> None:
        await deliveries.add_once(delivery("d-1"))
        await self.claim(deliveries, "crashed")
        later = NOW + LEASE
        reclaimed = await self.claim(deliveries, "alive", later)
        assert reclaimed is not None
        assert (reclaimed["attempts"], reclaimed["lease_token"]) == (2, "alive")
        assert await deliveries.settle("d-1", "crashed", Settlement(DEAD, "too late")) is False
        [stored] = await self.listed(deliveries)
        assert (stored["status"], stored["last_error"]) == (IN_FLIGHT, None)
        assert await deliveries.settle("d-1", "alive", Settlement(DELIVERED)) is True
        [stored] = await self.listed(deliveries)
        assert stored["status"] == DELIVERED

    async def test_pending_deliveries_come_first_earliest_due_first(
        self, deliveries: DeliveryRepository
    ) -> None:
        await deliveries.add_once(delivery("expired", due=NOW - timedelta(seconds=90)))
        await self.claim(deliveries, "crashed", NOW - timedelta(seconds=90))
        await deliveries.add_once(delivery("later", due=NOW - timedelta(seconds=10)))
        await deliveries.add_once(delivery("earlier", due=NOW - timedelta(seconds=20)))
        claims = [await self.claim(deliveries, f"t-{n}") for n in range(4)]
        assert [c["_id"] if c else None for c in claims] == ["earlier", "later", "expired", None]

    async def test_settle_records_the_outcome_and_ends_the_lease(
        self, deliveries: DeliveryRepository
    ) -> None:
        await deliveries.add_once(delivery("d-1"))
        await self.claim(deliveries, "t-1")
        retry_at = NOW + timedelta(seconds=2)
        assert await deliveries.settle("d-1", "t-1", Settlement(PENDING, "HTTP 500", retry_at))
        [stored] = await self.listed(deliveries)
        assert (stored["status"], stored["attempts"], stored["last_error"]) == (
            PENDING,
            1,
            "HTTP 500",
        )
        assert stored["next_attempt_at"] == retry_at
        assert "lease_token" not in stored and "lease_until" not in stored
        assert await deliveries.settle("d-1", "t-1", Settlement(DELIVERED)) is False, "settled"
        assert await self.claim(deliveries, "t-2") is None, "not due before its retry"
        again = await self.claim(deliveries, "t-2", retry_at)
        assert again is not None and again["attempts"] == 2
        assert await deliveries.settle("d-1", "t-2", Settlement(DEAD, "HTTP 500")) is True
        assert await self.claim(deliveries, "t-3", NOW + timedelta(days=1)) is None, "dead"
        assert await deliveries.settle("unknown", "t-2", Settlement(DELIVERED)) is False

    async def test_a_subscriptions_deliveries_are_listed_oldest_first_without_bodies(
        self, deliveries: DeliveryRepository
    ) -> None:
        for n in (3, 1, 2, 4):
            await deliveries.add_once(delivery(f"d-{n}", created=NOW + timedelta(seconds=n)))
        await deliveries.add_once(delivery("elsewhere", subscription_id="other"))
        listed = await deliveries.of_subscription("sub", limit=3)
        assert [d["_id"] for d in listed] == ["d-1", "d-2", "d-3"]
        assert all("body" not in d for d in listed)
        assert listed[0]["created_at"] == NOW + timedelta(seconds=1)
        assert [d["_id"] for d in await self.listed(deliveries, "other")] == ["elsewhere"]
        assert await self.listed(deliveries, "nobody") == []

    async def test_a_delivery_is_claimed_by_id_only_while_it_is_due(
        self, deliveries: DeliveryRepository
    ) -> None:
        async def by_id(token: str, now: datetime = NOW) -> Document | None:
            return await deliveries.claim(
                "d-1", now=now, lease_until=now + LEASE, lease_token=token
            )

        assert await by_id("t-0") is None, "unknown"
        await deliveries.add_once(delivery("d-1", due=NOW + timedelta(seconds=5)))
        assert await by_id("t-1") is None, "not due yet"
        claimed = await by_id("t-1", NOW + timedelta(seconds=5))
        assert claimed is not None
        assert (claimed["status"], claimed["attempts"], claimed["lease_token"]) == (
            IN_FLIGHT,
            1,
            "t-1",
        )
        assert await by_id("t-2", NOW + timedelta(seconds=6)) is None, "the lease holds"
        later = NOW + timedelta(seconds=5) + LEASE
        reclaimed = await by_id("t-3", later)
        assert reclaimed is not None and reclaimed["attempts"] == 2
        assert await deliveries.settle("d-1", "t-3", Settlement(DELIVERED))
        assert await by_id("t-4", later + timedelta(days=1)) is None, "settled"
        assert await self.claim(deliveries, "t-5", later + timedelta(days=1)) is None

    async def test_concurrent_claims_by_id_take_a_delivery_once(
        self, deliveries: DeliveryRepository
    ) -> None:
        await deliveries.add_once(delivery("d-1"))
        claims = await asyncio.gather(
            *[
                deliveries.claim("d-1", now=NOW, lease_until=NOW + LEASE, lease_token=f"t-{n}")
                for n in range(10)
            ]
        )
        assert len([c for c in claims if c is not None]) == 1

    async def test_concurrent_claims_take_each_delivery_once(
        self, deliveries: DeliveryRepository
    ) -> None:
        for n in range(5):
            await deliveries.add_once(delivery(f"d-{n}"))
        claims = await asyncio.gather(*[self.claim(deliveries, f"t-{n}") for n in range(20)])
        taken = [c["_id"] for c in claims if c is not None]
        assert sorted(taken) == [f"d-{n}" for n in range(5)]


class TestInMemorySubscriptions(SubscriptionContract):
    @pytest.fixture
    def subscriptions(self) -> SubscriptionRepository:
        return InMemorySubscriptions()


class TestInMemoryDeliveries(DeliveryContract):
    @pytest.fixture
    def deliveries(self) -> DeliveryRepository:
        return InMemoryDeliveries()


@pytest.mark.integration
class TestMongoSubscriptions(SubscriptionContract):
    @pytest.fixture
    async def subscriptions(self, mongo_db: AsyncDatabase[Document]) -> SubscriptionRepository:
        return MongoSubscriptions(await service_db(mongo_db))


@pytest.mark.integration
class TestMongoDeliveries(DeliveryContract):
    @pytest.fixture
    async def deliveries(self, mongo_db: AsyncDatabase[Document]) -> DeliveryRepository:
        return MongoDeliveries(await service_db(mongo_db))


@pytest.mark.integration
class TestMongoDueMarkers:
    """What the Mongo adapter keeps so that a look for due work never reads ``deliveries``."""

    async def test_a_marker_lives_from_planning_until_the_delivery_is_settled(
        self, mongo_db: AsyncDatabase[Document]
    ) -> None:
        db = await service_db(mongo_db)
        deliveries = MongoDeliveries(db)
        await deliveries.add_once(delivery("d-1"))
        assert [m["_id"] async for m in db[DUE].find({})] == ["d-1"]
        await deliveries.claim_due(now=NOW, lease_until=NOW + LEASE, lease_token="t-1")
        retry_at = NOW + timedelta(seconds=8)
        await deliveries.settle("d-1", "t-1", Settlement(PENDING, "HTTP 500", retry_at))
        marker = await db[DUE].find_one({"_id": "d-1"})
        assert marker is not None and marker["due_at"] == retry_at
        await deliveries.claim_due(now=retry_at, lease_until=retry_at + LEASE, lease_token="t-2")
        await deliveries.settle("d-1", "t-2", Settlement(DELIVERED))
        assert await db[DUE].count_documents({}) == 0

    async def test_settled_markers_are_dropped_a_batch_at_a_time_and_never_claimed(
        self, mongo_db: AsyncDatabase[Document]
    ) -> None:
        db = await service_db(mongo_db)
        deliveries = MongoDeliveries(db, gather_marker_deletes=2)
        for did in ("d-1", "d-2"):
            await deliveries.add_once(delivery(did))
            await deliveries.claim(did, now=NOW, lease_until=NOW + LEASE, lease_token=did)
        await deliveries.settle("d-1", "d-1", Settlement(DELIVERED))
        assert await db[DUE].count_documents({}) == 2, "d-1's marker waits for the batch"
        # A look for due work meanwhile sees d-1's marker but never takes d-1 again.
        later = NOW + LEASE
        sweep = {"lease_until": later + LEASE, "lease_token": "sweeper"}
        found = await deliveries.claim_due(now=later, **sweep)
        assert found is not None and found["_id"] == "d-2", "only the unsettled one is taken"
        await deliveries.settle("d-2", "sweeper", Settlement(DELIVERED))
        assert await db[DUE].count_documents({}) == 0

    async def test_a_handed_over_delivery_is_left_to_its_lanes_for_the_grace(
        self, mongo_db: AsyncDatabase[Document]
    ) -> None:
        db = await service_db(mongo_db)
        deliveries = MongoDeliveries(db, handoff_grace=timedelta(seconds=5))
        await deliveries.add_once(delivery("d-1"))
        lease = {"lease_until": NOW + LEASE, "lease_token": "sweeper"}
        assert await deliveries.claim_due(now=NOW, **lease) is None
        by_id = await deliveries.claim("d-1", now=NOW, lease_until=NOW + LEASE, lease_token="l")
        assert by_id is not None, "the lane it was handed to takes it at once"
        # Had the hand-off been lost (its process died), a look after the grace finds it.
        await db[DELIVERIES].update_one({"_id": "d-1"}, {"$set": {"status": PENDING}})
        later = NOW + timedelta(seconds=5)
        found = await deliveries.claim_due(now=later, **lease)
        assert found is not None and found["_id"] == "d-1"

    async def test_a_delivery_born_claimed_is_due_to_other_lanes_when_its_lease_ends(
        self, mongo_db: AsyncDatabase[Document]
    ) -> None:
        db = await service_db(mongo_db)
        deliveries = MongoDeliveries(db, handoff_grace=timedelta(seconds=5))
        born = {**delivery("d-1"), "status": IN_FLIGHT, "attempts": 1}
        await deliveries.add_once(born | {"lease_until": NOW + LEASE, "lease_token": "mine"})
        marker = await db[DUE].find_one({"_id": "d-1"})
        assert marker is not None and marker["due_at"] == NOW + LEASE
        sweeper = {"lease_token": "sweeper"}
        later = NOW + timedelta(seconds=10)  # past the hand-off grace, within the lease
        assert await deliveries.claim_due(now=later, lease_until=later + LEASE, **sweeper) is None
        # Its process died: once the lease is over, any lane takes it (attempt 2).
        over = NOW + LEASE
        found = await deliveries.claim_due(now=over, lease_until=over + LEASE, **sweeper)
        assert found is not None and found["_id"] == "d-1" and found["attempts"] == 2
        assert not await deliveries.settle("d-1", "mine", Settlement(DELIVERED)), "lease lost"

    async def test_a_stale_marker_is_tidied_when_looked_at(
        self, mongo_db: AsyncDatabase[Document]
    ) -> None:
        db = await service_db(mongo_db)
        deliveries = MongoDeliveries(db)
        await deliveries.add_once(delivery("settled"))
        await deliveries.claim("settled", now=NOW, lease_until=NOW + LEASE, lease_token="t")
        await db[DELIVERIES].update_one(
            {"_id": "settled"}, {"$set": {"status": DELIVERED}, "$unset": {"lease_token": ""}}
        )  # as a worker that died between settling and dropping the marker left it
        await deliveries.add_once(delivery("in-flight"))
        await deliveries.claim("in-flight", now=NOW, lease_until=NOW + LEASE, lease_token="x")
        # `since` is when the marker was written, by the wall clock.
        old, just_now = datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC)
        await db[DUE].insert_one({"_id": "orphan", "due_at": NOW, "since": old})
        await db[DUE].insert_one({"_id": "being-written", "due_at": NOW, "since": just_now})
        lease = {"lease_until": NOW + LEASE, "lease_token": "sweeper"}
        assert await deliveries.claim_due(now=NOW, **lease) is None
        markers = {m["_id"]: m["due_at"] async for m in db[DUE].find({})}
        assert markers == {"in-flight": NOW + LEASE, "being-written": NOW}


@pytest.mark.integration
async def test_subscriptions_stored_before_the_target_documents_are_listed_once(
    mongo_db: AsyncDatabase[Document],
) -> None:
    db = await service_db(mongo_db)
    await db[SUBSCRIPTIONS].insert_one(subscription("old", holder_id=HOLDER))
    subscriptions = MongoSubscriptions(db)
    query = {"credential_id": CREDENTIAL, "holder_id": HOLDER, "issuer_id": ISSUER}
    assert await subscriptions.matching(**query) == []
    assert await subscriptions.index_existing() == 1
    assert [s["_id"] for s in await subscriptions.matching(**query)] == ["old"]
    assert await subscriptions.index_existing() == 0, "listed once per database"


class QuotaContract:
    """The behaviour every `OwnerQuotas` must have."""

    async def test_places_are_taken_up_to_the_limit_and_given_back(
        self, quotas: OwnerQuotas
    ) -> None:
        assert [await quotas.reserve("holder:a", limit=2) for _ in range(3)] == [True, True, False]
        assert await quotas.reserve("holder:b", limit=2)
        await quotas.release("holder:a")
        assert await quotas.reserve("holder:a", limit=2)
        assert not await quotas.reserve("holder:a", limit=2)

    async def test_concurrent_reservations_never_pass_the_limit(self, quotas: OwnerQuotas) -> None:
        taken = await asyncio.gather(*[quotas.reserve("holder:c", limit=5) for _ in range(12)])
        assert taken.count(True) == 5

    async def test_concurrent_first_places_are_all_taken_below_the_limit(
        self, quotas: OwnerQuotas
    ) -> None:
        # The first reservations of an owner race to create its counter: none may lose.
        taken = await asyncio.gather(*[quotas.reserve("holder:d", limit=50) for _ in range(10)])
        assert taken.count(True) == 10

    async def test_creations_are_counted_per_minute(self, quotas: OwnerQuotas) -> None:
        first = [await quotas.count_creation("holder:a", minute="12:00", limit=2) for _ in "abc"]
        assert first == [True, True, False]
        assert await quotas.count_creation("holder:a", minute="12:01", limit=2)


class TestInMemoryQuotas(QuotaContract):
    @pytest.fixture
    def quotas(self) -> OwnerQuotas:
        return InMemoryOwnerQuotas()


@pytest.mark.integration
class TestMongoQuotas(QuotaContract):
    @pytest.fixture
    async def quotas(self, mongo_db: AsyncDatabase[Document]) -> OwnerQuotas:
        return MongoOwnerQuotas(await service_db(mongo_db))
