"""One contract for the holders' data (`HolderStore`), run against the in-memory fake and MongoDB:
consents and their posting claim, posting lists in bounded chunks, share links and their owner
lists; and the sharing use cases over each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bson.codec_options import CodecOptions
from pymongo.asynchronous.database import AsyncDatabase

from credreg_registry.adapters.fakes import InMemoryHolderStore, InMemoryView
from credreg_registry.adapters.mongo import MongoHolderStore, MongoViewDocuments, MongoViewStore
from credreg_registry.domain import Caller
from credreg_registry.holder_layout import (
    POSTING_CHUNK,
    SEARCH_CONSENTS,
    SEARCH_HEADS,
    SEARCH_POSTINGS,
    SHARE_LINK_OWNERS,
    SHARE_LINKS,
    posting_chunk_id,
)
from credreg_registry.ports import HolderStore, ViewDocuments, ViewStore
from credreg_registry.projection import CredentialProjection
from credreg_registry.sharing import (
    EmployerSearch,
    HolderSharing,
    SearchFilters,
    ShareLinkNotFound,
    facets_in,
)
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging.handlers import ConsumedEvent
from credreg_shared.storage.ports import Document

pytestmark = pytest.mark.timeout(120)

HOLDER = "did:example:holder"
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class HolderStoreContract:
    """Subclassed once per backend; `store` and `view` are its fixtures."""

    async def test_a_consent_answers_what_it_was_and_claims_posting_once(
        self, store: HolderStore
    ) -> None:
        first = await store.set_consent("c1", {"searchable": True}, claim_posting=True)
        second = await store.set_consent("c1", {"searchable": False}, claim_posting=False)
        third = await store.set_consent("c1", {"searchable": True}, claim_posting=True)
        assert first is None
        assert second is not None and second["posted"] is True and second["searchable"] is True
        assert third is not None and third["searchable"] is False
        await store.unclaim_posting("c1")
        found = await store.find_one(SEARCH_CONSENTS, "c1")
        assert found is not None and "posted" not in found and found["searchable"] is True

    async def test_postings_fill_chunks_in_order_never_past_their_size(
        self, store: HolderStore
    ) -> None:
        ids = [f"c{n}" for n in range(POSTING_CHUNK + 5)]
        for credential in ids:
            await store.append_posting("competency:ds-1", credential)
        head = await store.find_one(SEARCH_HEADS, "competency:ds-1")
        assert head is not None and head["n"] == len(ids)
        chunks = await store.find_many(
            SEARCH_POSTINGS,
            [posting_chunk_id(0, "competency:ds-1"), posting_chunk_id(1, "competency:ds-1")],
        )
        by_id = {c["_id"]: c["ids"] for c in chunks}
        assert by_id[posting_chunk_id(0, "competency:ds-1")] == ids[:POSTING_CHUNK]
        assert by_id[posting_chunk_id(1, "competency:ds-1")] == ids[POSTING_CHUNK:]

    async def test_concurrent_postings_lose_none(self, store: HolderStore) -> None:
        ids = [f"c{n}" for n in range(60)]
        await asyncio.gather(*(store.append_posting("issuer:x", i) for i in ids))
        chunk = await store.find_one(SEARCH_POSTINGS, posting_chunk_id(0, "issuer:x"))
        assert chunk is not None and sorted(chunk["ids"]) == sorted(ids)

    async def test_links_and_owner_lists(self, store: HolderStore) -> None:
        await store.insert(SHARE_LINKS, {"_id": "l1", "holder_id": HOLDER, "expires_at": START})
        await store.add_to_list(SHARE_LINK_OWNERS, HOLDER, "links", "l1")
        await store.add_to_list(SHARE_LINK_OWNERS, HOLDER, "links", "l2")
        await store.add_to_list(SHARE_LINK_OWNERS, HOLDER, "links", "l1")
        owner = await store.find_one(SHARE_LINK_OWNERS, HOLDER)
        assert owner is not None and owner["links"] == ["l1", "l2"]
        await store.remove_from_list(SHARE_LINK_OWNERS, HOLDER, "links", ["l2"])
        owner = await store.find_one(SHARE_LINK_OWNERS, HOLDER)
        assert owner is not None and owner["links"] == ["l1"]
        assert await store.set_fields(SHARE_LINKS, "l1", {"revoked_at": START}) is True
        assert await store.set_fields(SHARE_LINKS, "nope", {"revoked_at": START}) is False
        with pytest.raises(Exception):  # noqa: B017, PT011 - each backend's duplicate error
            await store.insert(SHARE_LINKS, {"_id": "l1"})

    async def test_consent_search_and_links_end_to_end(
        self, store: HolderStore, view: tuple[ViewDocuments, ViewStore]
    ) -> None:
        documents, writer = view
        events = [samples.credential_issued(f"urn:uuid:c-{n}", HOLDER) for n in range(3)]
        await CredentialProjection(writer).apply(
            [
                ConsumedEvent(
                    new_envelope(e, source="urn:t", time=START), "credreg.credentials", 0, n
                )
                for n, e in enumerate(events)
            ]
        )
        now = [START]
        sharing = HolderSharing(documents=documents, holders=store, clock=lambda: now[0])
        search = EmployerSearch(documents=documents, holders=store)
        holder = Caller(holder_id=HOLDER)
        for n in (0, 2):
            await sharing.set_searchable(f"urn:uuid:c-{n}", holder, True)
        await sharing.set_searchable("urn:uuid:c-0", holder, True)  # posted once only
        page = await search.search(SearchFilters(competency="fa-1"))
        assert [c.id for c in page.credentials] == ["urn:uuid:c-0", "urn:uuid:c-2"]
        head = await store.find_one(SEARCH_HEADS, "competency:fa-1")
        assert head is not None and head["n"] == 2
        # Facets are kept as one JSON string (FerretDB reads it several times faster).
        consent = await store.find_one(SEARCH_CONSENTS, "urn:uuid:c-0")
        assert consent is not None and isinstance(consent["facets"], str)
        assert "fa-1" in facets_in(consent)["competencies"]
        made = await sharing.create_link(HOLDER, holder, ["urn:uuid:c-1"], days=2, label="x")
        shown = await sharing.open_link(made.secret)
        assert [c.id for c in shown.credentials] == ["urn:uuid:c-1"]
        assert shown.expires_at == START + timedelta(days=2)
        now[0] = START + timedelta(days=2)
        with pytest.raises(ShareLinkNotFound):
            await sharing.open_link(made.secret)
        listed = await sharing.links(HOLDER, holder)
        assert [(link.id, link.in_force) for link in listed] == [(made.id, False)]


class TestInMemoryHolderStore(HolderStoreContract):
    @pytest.fixture
    def store(self) -> HolderStore:
        return InMemoryHolderStore()

    @pytest.fixture
    def view(self) -> tuple[ViewDocuments, ViewStore]:
        found = InMemoryView()
        return found, found


@pytest.mark.integration
class TestMongoHolderStore(HolderStoreContract):
    @pytest.fixture
    def db(self, mongo_db: AsyncDatabase[dict[str, object]]) -> AsyncDatabase[Document]:
        # The service's own client reads times back timezone-aware (storage.connect).
        found: AsyncDatabase[Document] = mongo_db.with_options(
            codec_options=CodecOptions(tz_aware=True)
        )
        return found

    @pytest.fixture
    def store(self, db: AsyncDatabase[Document]) -> HolderStore:
        return MongoHolderStore(db)

    @pytest.fixture
    def view(self, db: AsyncDatabase[Document]) -> tuple[ViewDocuments, ViewStore]:
        return MongoViewDocuments(db), MongoViewStore(db)
