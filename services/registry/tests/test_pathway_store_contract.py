"""One contract for the pathways' store (`PathwayStore`), run against the in-memory fake and
MongoDB (FerretDB locally): definitions and their index, components, the single-insert claim
(one winner among concurrent claimants), the outbox markers, the tombstone, the back-fill's
conditional writes (one winner) and its queue; and the whole flow over each (a back-fill, a
deletion)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from bson.codec_options import CodecOptions
from pymongo.asynchronous.database import AsyncDatabase

from credreg_registry.adapters.fakes import InMemoryPathwayStore, InMemoryView
from credreg_registry.adapters.mongo import MongoViewDocuments, MongoViewStore
from credreg_registry.adapters.mongo_pathways import MongoPathwayStore
from credreg_registry.pathway_backfill import Backfiller
from credreg_registry.pathway_layout import (
    BACKFILL_QUEUE,
    COMPLETIONS,
    COMPONENTS,
    HOLDER_PATHWAYS,
    OUTBOX,
    PATHWAY_INDEX,
    PATHWAYS,
    QUEUE_ID,
    completion_event_id,
    index_key,
)
from credreg_registry.pathways import (
    ManagePathways,
    PathwayNotFound,
    PathwayRequest,
    PathwayStore,
    PathwayTracker,
    Sweep,
    sweep_of,
)
from credreg_registry.ports import ViewDocuments, ViewStore
from credreg_registry.projection import CredentialProjection
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import from_record, new_envelope
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent
from credreg_shared.storage.ports import Document

pytestmark = pytest.mark.timeout(120)

ISSUER = samples.SAMPLE_ISSUER
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def definition(pathway_id: str, achievements: list[str]) -> Document:
    return {
        "_id": pathway_id,
        "issuer_id": ISSUER,
        "name": pathway_id,
        "achievement_ids": achievements,
        "required": len(achievements),
        "award": None,
        "event_id": f"e-{pathway_id}",
        "defined_at": START,
        "backfill": Sweep().model_dump(),
    }


async def index_of(store: PathwayStore, *achievements: str) -> dict[str, list[str]]:
    found = await store.find_many(PATHWAY_INDEX, [index_key(ISSUER, a) for a in achievements])
    return {d["_id"]: sorted(d["pathways"]) for d in found}


class PathwayStoreContract:
    """Subclassed once per backend; `store` and `view` are its fixtures."""

    async def test_a_definition_is_kept_and_indexed_by_its_achievements(
        self, store: PathwayStore
    ) -> None:
        await store.put_definition(definition("p", ["a1", "a2"]), dropped=[])
        await store.put_definition(definition("q", ["a2"]), dropped=[])
        found = await store.find_one(PATHWAYS, "p")
        assert found is not None and found["achievement_ids"] == ["a1", "a2"]
        index = {
            d["_id"]: sorted(d["pathways"])
            for d in await store.find_many(
                PATHWAY_INDEX, [index_key(ISSUER, "a1"), index_key(ISSUER, "a2")]
            )
        }
        assert index == {index_key(ISSUER, "a1"): ["p"], index_key(ISSUER, "a2"): ["p", "q"]}
        # Redefined without a1: unlisted there, the rest kept.
        await store.put_definition(definition("p", ["a2", "a3"]), dropped=[index_key(ISSUER, "a1")])
        found_a1 = await store.find_one(PATHWAY_INDEX, index_key(ISSUER, "a1"))
        assert found_a1 is not None and found_a1["pathways"] == []
        found_a3 = await store.find_one(PATHWAY_INDEX, index_key(ISSUER, "a3"))
        assert found_a3 is not None and found_a3["pathways"] == ["p"]

    async def test_listing_adds_and_removes_a_pathway_under_index_keys(
        self, store: PathwayStore
    ) -> None:
        await store.put_definition(definition("p", ["a1", "a2"]), dropped=[])
        await store.put_definition(definition("q", ["a1"]), dropped=[])
        keys = [index_key(ISSUER, "a1"), index_key(ISSUER, "a2")]
        await store.list_pathway("p", add=[], remove=keys)
        assert await index_of(store, "a1", "a2") == {keys[0]: ["q"], keys[1]: []}
        await store.list_pathway("p", add=[*keys, index_key(ISSUER, "a3")], remove=[])
        await store.list_pathway("p", add=keys, remove=[])  # twice: listed once
        assert await index_of(store, "a1", "a2", "a3") == {
            keys[0]: ["p", "q"],
            keys[1]: ["p"],
            index_key(ISSUER, "a3"): ["p"],
        }
        await store.list_pathway("p", add=[], remove=[])  # nothing to do

    async def test_a_tombstone_marks_only_the_definition_it_names(
        self, store: PathwayStore
    ) -> None:
        await store.put_definition(definition("p", ["a1"]), dropped=[])
        assert not await store.delete_definition("p", event_id="e-other", at=START)
        assert not await store.delete_definition("nothing", event_id="e-p", at=START)
        found = await store.find_one(PATHWAYS, "p")
        assert found is not None and found.get("deleted_at") is None
        later = START + timedelta(hours=1)
        assert await store.delete_definition("p", event_id="e-p", at=later)
        # Deleted already: the first deletion's time stays.
        assert not await store.delete_definition("p", event_id="e-p", at=later + timedelta(1))
        found = await store.find_one(PATHWAYS, "p")
        assert found is not None and found["deleted_at"] == later
        assert found["achievement_ids"] == ["a1"] and found["issuer_id"] == ISSUER
        # Defined anew: a whole new document, without the tombstone.
        await store.put_definition(definition("p", ["a2"]), dropped=[])
        found = await store.find_one(PATHWAYS, "p")
        assert found is not None and found.get("deleted_at") is None

    async def test_backfill_writes_are_conditional_and_have_one_winner(
        self, store: PathwayStore
    ) -> None:
        await store.put_definition(definition("p", ["a1"]), dropped=[])
        step = Sweep(state="running", rev=1, chunk=3, holders_seen=7).model_dump()
        assert not await store.save_backfill("p", event_id="e-other", rev=0, backfill=step)
        assert not await store.save_backfill("p", event_id="e-p", rev=5, backfill=step)
        assert not await store.save_backfill("none", event_id="e-p", rev=0, backfill=step)
        writes = await asyncio.gather(
            *[
                store.save_backfill(
                    "p",
                    event_id="e-p",
                    rev=0,
                    backfill=Sweep(state="running", rev=1, owner=f"w{n}").model_dump(),
                )
                for n in range(6)
            ]
        )
        assert sorted(writes) == [False] * 5 + [True]
        found = await store.find_one(PATHWAYS, "p")
        assert found is not None
        kept = sweep_of(found)
        assert kept is not None and (kept.rev, kept.owner) == (1, f"w{writes.index(True)}")
        lease = START + timedelta(minutes=1)
        moved = Sweep(state="running", rev=2, chunk=3, lease_until=lease).model_dump()
        assert await store.save_backfill("p", event_id="e-p", rev=1, backfill=moved)
        found = await store.find_one(PATHWAYS, "p")
        assert found is not None
        read = sweep_of(found)
        assert read is not None and (read.chunk, read.lease_until) == (3, lease)
        assert read.lease_until is not None and read.lease_until.tzinfo is not None
        # Deleted: no back-fill write lands any more.
        assert await store.delete_definition("p", event_id="e-p", at=START)
        assert not await store.save_backfill("p", event_id="e-p", rev=2, backfill=step)

    async def test_the_backfill_queue_keeps_each_entry_once_in_order(
        self, store: PathwayStore
    ) -> None:
        assert await store.find_one(BACKFILL_QUEUE, QUEUE_ID) is None
        await store.dequeue_backfill("x")  # no queue yet: nothing to do
        for entry in ("b", "a", "b", "c"):
            await store.queue_backfill(entry)
        queue = await store.find_one(BACKFILL_QUEUE, QUEUE_ID)
        assert queue is not None and queue["entries"] == ["b", "a", "c"]
        await store.dequeue_backfill("a")
        await store.dequeue_backfill("a")
        queue = await store.find_one(BACKFILL_QUEUE, QUEUE_ID)
        assert queue is not None and queue["entries"] == ["b", "c"]

    async def test_components_and_started_pathways_are_sets(self, store: PathwayStore) -> None:
        await store.add_components({"k1": ["c1", "c2"], "k2": ["c3"]})
        await store.add_components({"k1": ["c2", "c4"]})
        found = {
            d["_id"]: sorted(d["ids"]) for d in await store.find_many(COMPONENTS, ["k1", "k2"])
        }
        assert found == {"k1": ["c1", "c2", "c4"], "k2": ["c3"]}
        await store.add_holder_pathways({"h": ["p"]})
        await store.add_holder_pathways({"h": ["p", "q"], "i": ["q"]})
        started = {
            d["_id"]: sorted(d["pathways"])
            for d in await store.find_many(HOLDER_PATHWAYS, ["h", "i"])
        }
        assert started == {"h": ["p", "q"], "i": ["q"]}

    async def test_concurrent_claims_have_exactly_one_winner(self, store: PathwayStore) -> None:
        claims = await asyncio.gather(
            *[store.claim("k", {"_id": "k", "by": n, "published": False}) for n in range(8)]
        )
        assert sorted(claims) == [False] * 7 + [True]
        found = await store.find_one(COMPLETIONS, "k")
        assert found is not None and found["by"] == claims.index(True)

    async def test_markers_wait_until_published_or_dropped(self, store: PathwayStore) -> None:
        await store.mark_pending("k1", at=START)
        await store.mark_pending("k1", at=START + timedelta(minutes=5))  # kept as it was
        await store.mark_pending("k2", at=START + timedelta(minutes=1))
        assert sorted(await store.pending(before=START + timedelta(seconds=30))) == ["k1"]
        assert sorted(await store.pending(before=START + timedelta(minutes=2))) == ["k1", "k2"]
        await store.claim("k1", {"_id": "k1", "published": False})
        await store.published("k1")
        await store.drop_marker("k2")
        assert await store.pending(before=START + timedelta(days=1)) == []
        claimed = await store.find_one(COMPLETIONS, "k1")
        assert claimed is not None and claimed["published"] is True
        assert await store.find_one(OUTBOX, "k1") is None

    async def test_a_pathway_completes_once_through_the_projection(
        self, store: PathwayStore, view: tuple[ViewDocuments, ViewStore]
    ) -> None:
        documents, view_store = view
        publisher = InMemoryPublisher()
        tracker = PathwayTracker(
            store=store, view=documents, publisher=publisher, topic="t", source="urn:test"
        )
        projection = CredentialProjection(view_store, tracker)
        pathways = ManagePathways(tracker=tracker, view=documents)
        holder = "did:example:contract"
        achievements = ["urn:uuid:ach-1", "urn:uuid:ach-2"]

        def issued(n: int) -> ConsumedEvent:
            data = samples.credential_issued(f"urn:uuid:cred-{n}", holder).model_copy(
                update={"achievement_id": achievements[n]}
            )
            envelope = new_envelope(data, source="urn:test", time=START + timedelta(minutes=n))
            return ConsumedEvent(envelope, "credreg.credentials", 0, n)

        await projection.apply([issued(0)])
        # A holder of the second achievement too, for it to be known (another learner).
        other = samples.credential_issued("urn:uuid:other", "did:example:other").model_copy(
            update={"achievement_id": achievements[1]}
        )
        await projection.apply(
            [ConsumedEvent(new_envelope(other, source="urn:test"), "credreg.credentials", 0, 5)]
        )
        request = PathwayRequest(name="Both", achievement_ids=achievements)
        await pathways.define("both", request, institution=ISSUER)
        assert await pathways.progress(holder) == []  # its back-fill has not run
        assert await Backfiller(tracker, documents).run_once() == 2
        [progress] = await pathways.progress(holder)
        assert progress.summary == "1 of 2"
        second = issued(1)
        await projection.apply([second])
        await projection.apply([second])  # redelivered
        completions = [
            from_record(r.key, r.value, list(r.headers))
            for r in publisher.on("t")
            if dict(r.headers)["ce_type"] == models.PathwayCompleted.event_type.encode()
        ]
        assert [e.id for e in completions] == [completion_event_id(holder, "both")]
        [progress] = await pathways.progress(holder)
        assert progress.completed and progress.completed_at is not None
        assert progress.completed_at.tzinfo is not None
        assert await store.find_one(OUTBOX, json.dumps([holder, "both"])) is None

    async def test_a_deleted_pathway_is_gone_and_its_completions_stay(
        self, store: PathwayStore, view: tuple[ViewDocuments, ViewStore]
    ) -> None:
        documents, view_store = view
        publisher = InMemoryPublisher()
        tracker = PathwayTracker(
            store=store, view=documents, publisher=publisher, topic="t", source="urn:test"
        )
        projection = CredentialProjection(view_store, tracker)
        pathways = ManagePathways(tracker=tracker, view=documents)
        achievement = "urn:uuid:ach-deleted"

        async def issue(n: int, holder: str) -> None:
            data = samples.credential_issued(f"urn:uuid:del-{n}", holder).model_copy(
                update={"achievement_id": achievement}
            )
            envelope = new_envelope(data, source="urn:test", time=START + timedelta(minutes=n))
            await projection.apply([ConsumedEvent(envelope, "credreg.credentials", 0, 100 + n)])

        await issue(0, "did:example:first")
        request = PathwayRequest(name="One", achievement_ids=[achievement])
        await pathways.define("one", request, institution=ISSUER)
        await Backfiller(tracker, documents).run_once()
        assert [p.completed for p in await pathways.progress("did:example:first")] == [True]

        await pathways.delete("one", institution=ISSUER)
        await pathways.delete("one", institution=ISSUER)  # again: no error
        with pytest.raises(PathwayNotFound):
            await pathways.get("one", institution=ISSUER)
        assert await pathways.progress("did:example:first") == []
        assert await index_of(store, achievement) == {index_key(ISSUER, achievement): []}
        await issue(1, "did:example:second")  # would complete it, were it still there
        assert await pathways.progress("did:example:second") == []
        assert await store.find_one(COMPLETIONS, json.dumps(["did:example:second", "one"])) is None
        claim = await store.find_one(COMPLETIONS, json.dumps(["did:example:first", "one"]))
        assert claim is not None and claim["published"] is True
        # Defined anew: its back-fill finds both holders; the first one's completion is kept.
        await pathways.define("one", request, institution=ISSUER)
        await Backfiller(tracker, documents).run_once()
        for holder in ("did:example:first", "did:example:second"):
            assert [p.completed for p in await pathways.progress(holder)] == [True]
        completions = [
            r
            for r in publisher.on("t")
            if dict(r.headers)["ce_type"] == models.PathwayCompleted.event_type.encode()
        ]
        assert len(completions) == 2


class TestInMemoryPathwayStore(PathwayStoreContract):
    @pytest.fixture
    def store(self) -> PathwayStore:
        return InMemoryPathwayStore()

    @pytest.fixture
    def view(self) -> tuple[ViewDocuments, ViewStore]:
        found = InMemoryView()
        return found, found


@pytest.mark.integration
class TestMongoPathwayStore(PathwayStoreContract):
    @pytest.fixture
    def db(self, mongo_db: AsyncDatabase[dict[str, object]]) -> AsyncDatabase[Document]:
        # The service's own client reads times back timezone-aware (storage.connect).
        found: AsyncDatabase[Document] = mongo_db.with_options(
            codec_options=CodecOptions(tz_aware=True)
        )
        return found

    @pytest.fixture
    def store(self, db: AsyncDatabase[Document]) -> PathwayStore:
        return MongoPathwayStore(db)

    @pytest.fixture
    def view(self, db: AsyncDatabase[Document]) -> tuple[ViewDocuments, ViewStore]:
        return MongoViewDocuments(db), MongoViewStore(db)
