"""One contract for the registry's view, run against the in-memory fake and MongoDB.

The same events go through the batched projection into each view; the queries must then answer
the same: the fake stands in for MongoDB in the unit tests, so both must agree on what the
projection's writes leave behind and on how pages, searches and counts read them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from bson.codec_options import CodecOptions
from pymongo.asynchronous.database import AsyncDatabase

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.adapters.mongo import MongoViewDocuments, MongoViewStore
from credreg_registry.domain import (
    Achievement,
    CredentialNotFound,
    CredentialView,
    ExpiresSoon,
    InvalidCursor,
    PortfolioEntry,
    Revocation,
    Suspension,
)
from credreg_registry.domain import Caller as Caller
from credreg_registry.layout import (
    BODIES,
    COUNTERS,
    CREDENTIALS,
    LINES,
    LIST_HEADS,
    LISTS,
    ViewChanges,
    achievement_list,
    chunk_id,
    portfolio_list,
)
from credreg_registry.ports import Adapters
from credreg_registry.projection import ChunkCounts, CredentialProjection, fold, issued_fields
from credreg_registry.use_cases import RegistryQueries
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging.handlers import ConsumedEvent
from credreg_shared.storage.ports import Document

HOLDER, OTHER = "did:example:holder", "did:example:other"
ISSUER = samples.SAMPLE_ISSUER
TOPIC = "credreg.credentials"
# Whole seconds: MongoDB keeps milliseconds only, and both views must hold the same times.
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OTHER_RENEWAL = models.Renewal(url="https://issuer.credreg.example/renew/re-sit", text="Re-sit it.")

AS_ISSUER = Caller(institution=samples.SAMPLE_ISSUER)
"""The issuer of every sample credential: it may read them all."""


def credential_id(n: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{n:012d}"


class Feed:
    """Events into one view through the batched projection, one minute apart, offset by offset.

    Each call applies its events as one batch (``batch``), or queues them (``queue``) for a
    later ``flush`` in batches of any size, so tests can vary batch boundaries.
    """

    def __init__(self, adapters: Adapters) -> None:
        self.projection = CredentialProjection(adapters.store)
        self.minutes = 0
        self.log: list[ConsumedEvent] = []
        self.queued: list[ConsumedEvent] = []

    @property
    def now(self) -> datetime:
        return START + timedelta(minutes=self.minutes)

    def record(self, data: models.EventData, partition: int = 0) -> ConsumedEvent:
        """Append an event to the log (not applied yet)."""
        self.minutes += 1
        envelope = new_envelope(data, source="urn:test", time=self.now)
        offset = sum(1 for e in self.log if e.partition == partition)
        consumed = ConsumedEvent(envelope, TOPIC, partition, offset)
        self.log.append(consumed)
        self.queued.append(consumed)
        return consumed

    async def flush(self, batch_size: int = 500) -> None:
        """Apply what is queued, `batch_size` events at a time."""
        queued, self.queued = self.queued, []
        for start in range(0, len(queued), batch_size):
            await self.projection.apply(queued[start : start + batch_size])

    async def __call__(self, data: models.EventData) -> datetime:
        """Apply one event at once; return its time."""
        self.record(data)
        await self.flush()
        return self.now

    async def issued(
        self, n: int, holder: str = HOLDER, valid_from: datetime | None = None
    ) -> datetime:
        return await self(issued(n, holder, valid_from))

    async def lifecycle(
        self, kind: type[models.CredentialEvent], n: int, holder: str = HOLDER, **extra: object
    ) -> datetime:
        return await self(lifecycle(kind, n, holder, **extra))


def issued(
    n: int, holder: str = HOLDER, valid_from: datetime | None = None
) -> models.CredentialIssued:
    data = samples.credential_issued(credential_id(n), holder_id=holder)
    if valid_from is not None:
        data = data.model_copy(update={"valid_from": valid_from})
    return data


def lifecycle(
    kind: type[models.CredentialEvent], n: int, holder: str = HOLDER, **extra: object
) -> models.CredentialEvent:
    common = {"credential_id": credential_id(n), "issuer_id": ISSUER, "holder_id": holder}
    return kind.model_validate({**common, **extra})


def queries(adapters: Adapters, now: datetime = START) -> RegistryQueries:
    return RegistryQueries(documents=adapters.documents, clock=lambda: now)


async def whole_view(adapters: Adapters) -> dict[str, list[Document]]:
    """Every document of every collection of the view, sorted by ``_id``."""
    return {
        name: sorted(await adapters.documents.find_all(name), key=lambda d: d["_id"])
        for name in (CREDENTIALS, BODIES, LINES, LISTS, LIST_HEADS, COUNTERS)
    }


async def portfolio_ids(adapters: Adapters, holder: str) -> list[str]:
    """Every credential id of a holder's portfolio, page after page."""
    found, cursor = [], None
    while True:
        page = await queries(adapters).portfolio(holder, Caller(holder_id=holder), cursor)
        found += [line.id for line in page.credentials]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def expires_soon_lines(adapters: Adapters) -> dict[str, datetime | None]:
    """Credential id → `expires_soon` of its line, as the portfolio shows them."""
    page = await queries(adapters).portfolio(HOLDER, Caller(holder_id=HOLDER))
    return {line.id: line.expires_soon for line in page.credentials}


class ViewContract:
    """What every view answers after the projection; subclasses give `adapters`."""

    async def test_an_empty_view_has_nothing_and_lists_every_status(
        self, adapters: Adapters
    ) -> None:
        with pytest.raises(CredentialNotFound):
            await queries(adapters).credential(credential_id(1), AS_ISSUER)
        page = await queries(adapters).portfolio(HOLDER, Caller(holder_id=HOLDER))
        assert (page.credentials, page.next_cursor) == ([], None)
        stats = await queries(adapters).stats()
        assert stats.by_status == {"active": 0, "suspended": 0, "expired": 0, "revoked": 0}
        assert (stats.credentials, stats.awaiting_issuance) == (0, 0)

    async def test_a_credential_reads_back_with_its_whole_history(self, adapters: Adapters) -> None:
        feed = Feed(adapters)
        issued_at = await feed.issued(1)
        await feed.lifecycle(models.CredentialSuspended, 1, reason="audit")
        reinstated_at = await feed.lifecycle(models.CredentialReinstated, 1)
        noticed_at = await feed.lifecycle(
            models.CredentialExpiring, 1, valid_until=samples.VALID_UNTIL
        )
        notice = ExpiresSoon(valid_until=samples.VALID_UNTIL, noticed_at=noticed_at)
        assert (
            await queries(adapters).credential(credential_id(1), AS_ISSUER)
        ).expires_soon == notice
        revoked_at = await feed.lifecycle(
            models.CredentialRevoked, 1, reason="superseded", superseded_by="urn:x:2"
        )
        data = issued(1)

        assert await queries(adapters).credential(credential_id(1), AS_ISSUER) == CredentialView(
            id=credential_id(1),
            issuer_id=ISSUER,
            holder_id=HOLDER,
            status="revoked",
            achievement=Achievement(
                id=data.achievement_id,
                name="CPR and First Aid",
                type="MicroCredential",
                competencies=list(data.competencies),
            ),
            valid_from=samples.VALID_FROM,
            valid_until=samples.VALID_UNTIL,
            credential=data.credential,
            issued_at=issued_at,
            updated_at=revoked_at,
            revocation=Revocation(
                reason="superseded", superseded_by="urn:x:2", revoked_at=revoked_at
            ),
            # Revoked: the expiring notice no longer concerns the holder.
            expires_soon=None,
            reinstated_at=reinstated_at,
        )

    async def test_an_expiry_notice_shows_until_expiry_and_its_renewal_after(
        self, adapters: Adapters
    ) -> None:
        feed = Feed(adapters)
        await feed.issued(1)
        await feed.issued(2)
        noticed_at = await feed.lifecycle(
            models.CredentialExpiring,
            1,
            valid_until=samples.VALID_UNTIL,
            lead_days=30,
            renewal=samples.RENEWAL,
        )
        notice = ExpiresSoon(
            valid_until=samples.VALID_UNTIL,
            noticed_at=noticed_at,
            lead_days=30,
            renewal=samples.RENEWAL,
        )
        found = await queries(adapters).credential(credential_id(1), AS_ISSUER)
        assert (found.expires_soon, found.renewal) == (notice, samples.RENEWAL)
        assert await expires_soon_lines(adapters) == {
            credential_id(1): samples.VALID_UNTIL,
            credential_id(2): None,
        }

        await feed.lifecycle(models.CredentialSuspended, 1, reason="audit")
        assert (
            await queries(adapters).credential(credential_id(1), AS_ISSUER)
        ).expires_soon == notice
        assert (await expires_soon_lines(adapters))[credential_id(1)] == samples.VALID_UNTIL

        # Expired without a renewal of its own: the notice's renewal still shows.
        await feed.lifecycle(models.CredentialExpired, 1, valid_until=samples.VALID_UNTIL)
        found = await queries(adapters).credential(credential_id(1), AS_ISSUER)
        assert (found.status, found.expires_soon, found.renewal) == (
            "expired",
            None,
            samples.RENEWAL,
        )
        assert (await expires_soon_lines(adapters))[credential_id(1)] is None

        # The expiry's own renewal comes first.
        await feed.lifecycle(models.CredentialExpiring, 2, valid_until=samples.VALID_UNTIL)
        await feed.lifecycle(
            models.CredentialExpired, 2, valid_until=samples.VALID_UNTIL, renewal=OTHER_RENEWAL
        )
        assert (
            await queries(adapters).credential(credential_id(2), AS_ISSUER)
        ).renewal == OTHER_RENEWAL

    async def test_a_supersession_reads_both_ways_and_moves_no_count(
        self, adapters: Adapters
    ) -> None:
        feed = Feed(adapters)
        await feed.issued(1)
        await feed.issued(2)
        await feed.lifecycle(
            models.CredentialRevoked, 1, reason="superseded", superseded_by=credential_id(2)
        )
        assert (await queries(adapters).credential(credential_id(2), AS_ISSUER)).supersedes == [
            credential_id(1)
        ]
        old = await queries(adapters).verification(credential_id(1))
        new = await queries(adapters).verification(credential_id(2))
        assert (old.superseded_by, old.supersedes) == (credential_id(2), [])
        assert (new.superseded_by, new.supersedes) == (None, [credential_id(1)])
        stats = await queries(adapters).stats()
        assert stats.by_status == {"active": 1, "suspended": 0, "expired": 0, "revoked": 1}
        assert (stats.credentials, stats.awaiting_issuance) == (2, 0)

        once = await whole_view(adapters)
        await feed.projection.apply(feed.log)  # the whole log redelivered
        assert await whole_view(adapters) == once

    async def test_a_replacement_on_another_partition_is_linked_before_its_issuance(
        self, adapters: Adapters
    ) -> None:
        feed = Feed(adapters)
        for n in (1, 3):
            feed.record(issued(n))
        feed.record(
            lifecycle(
                models.CredentialRevoked, 1, reason="superseded", superseded_by=credential_id(2)
            )
        )
        await feed.flush()
        with pytest.raises(CredentialNotFound):
            await queries(adapters).credential(credential_id(2), AS_ISSUER)
        stats = await queries(adapters).stats()
        assert (stats.credentials, stats.awaiting_issuance) == (2, 0)

        # A second credential replaced by the same one: added to the placeholder's list.
        await feed.lifecycle(
            models.CredentialRevoked, 3, reason="superseded", superseded_by=credential_id(2)
        )
        feed.record(issued(2), partition=1)
        await feed.flush()
        found = await queries(adapters).credential(credential_id(2), AS_ISSUER)
        assert (found.status, found.supersedes) == ("active", [credential_id(1), credential_id(3)])
        stats = await queries(adapters).stats()
        assert stats.by_status == {"active": 1, "suspended": 0, "expired": 0, "revoked": 2}
        assert (stats.credentials, stats.awaiting_issuance) == (3, 0)
        assert credential_id(2) in await portfolio_ids(adapters, HOLDER)

        once = await whole_view(adapters)
        await feed.projection.apply(sorted(feed.log, key=lambda e: (e.partition, e.offset)))
        assert await whole_view(adapters) == once

    async def test_a_suspension_reads_back_and_is_not_in_force(self, adapters: Adapters) -> None:
        feed = Feed(adapters)
        await feed.issued(1)
        inside = samples.VALID_FROM + timedelta(days=1)
        assert (await queries(adapters, inside).verification(credential_id(1))).in_force
        suspended_at = await feed.lifecycle(models.CredentialSuspended, 1, reason="audit")
        found = await queries(adapters).credential(credential_id(1), AS_ISSUER)
        assert (found.status, found.suspension) == (
            "suspended",
            Suspension(reason="audit", suspended_at=suspended_at),
        )
        checked = await queries(adapters, inside).verification(credential_id(1))
        assert (checked.status, checked.in_force, checked.checked_at) == (
            "suspended",
            False,
            inside,
        )

    async def test_verification_is_in_force_only_within_the_validity_window(
        self, adapters: Adapters
    ) -> None:
        await Feed(adapters).issued(1)
        before = samples.VALID_FROM - timedelta(seconds=1)
        after = samples.VALID_UNTIL
        assert not (await queries(adapters, before).verification(credential_id(1))).in_force
        assert not (await queries(adapters, after).verification(credential_id(1))).in_force

    async def test_placeholders_stay_hidden_until_their_issuance(self, adapters: Adapters) -> None:
        feed = Feed(adapters)
        revoked_at = await feed.lifecycle(models.CredentialRevoked, 1, reason="superseded")
        await feed.lifecycle(models.CredentialSuspended, 2)
        with pytest.raises(CredentialNotFound):
            await queries(adapters).credential(credential_id(1), AS_ISSUER)
        with pytest.raises(CredentialNotFound):
            await queries(adapters).verification(credential_id(2))
        assert await portfolio_ids(adapters, HOLDER) == []
        stats = await queries(adapters).stats()
        assert (stats.credentials, stats.awaiting_issuance) == (0, 2)

        await feed.issued(1)
        found = await queries(adapters).credential(credential_id(1), AS_ISSUER)
        assert (found.status, found.revocation) == (
            "revoked",
            Revocation(reason="superseded", revoked_at=revoked_at),
        )
        stats = await queries(adapters).stats()
        assert (stats.awaiting_issuance, stats.by_status["revoked"]) == (1, 1)
        assert await portfolio_ids(adapters, HOLDER) == [credential_id(1)]

    async def test_a_portfolio_page_is_in_recording_order_with_live_statuses(
        self, adapters: Adapters
    ) -> None:
        feed = Feed(adapters)
        day = timedelta(days=1)
        # Issued out of order; 2 and 4 start on the same day, so their ids break the tie.
        await feed.issued(4, valid_from=samples.VALID_FROM)
        await feed.issued(3, valid_from=samples.VALID_FROM + day)
        await feed.issued(2, valid_from=samples.VALID_FROM)
        await feed.issued(1, valid_from=samples.VALID_FROM - day)
        await feed.issued(5, holder=OTHER)
        await feed.lifecycle(models.CredentialRevoked, 6, reason="before its issuance")
        await feed.lifecycle(models.CredentialExpired, 3, valid_until=samples.VALID_UNTIL)

        page = await queries(adapters).portfolio(HOLDER, Caller(holder_id=HOLDER))
        assert [(line.id, line.status) for line in page.credentials] == [
            (credential_id(4), "active"),
            (credential_id(3), "expired"),
            (credential_id(2), "active"),
            (credential_id(1), "active"),
        ]
        assert page.next_cursor is None
        assert page.credentials[3] == PortfolioEntry(
            id=credential_id(1),
            status="active",
            issuer_id=ISSUER,
            achievement_name="CPR and First Aid",
            achievement_type="MicroCredential",
            valid_from=samples.VALID_FROM - day,
            valid_until=samples.VALID_UNTIL,
        )
        assert await portfolio_ids(adapters, OTHER) == [credential_id(5)]

    async def test_a_large_portfolio_comes_in_pages_of_at_most_100_each_once(
        self, adapters: Adapters
    ) -> None:
        feed = Feed(adapters)
        for n in range(1, 251):
            feed.record(issued(n))
        await feed.flush(batch_size=70)
        feed.record(lifecycle(models.CredentialRevoked, 250, reason="fraud"))
        await feed.flush()

        pages = []
        cursor = None
        while True:
            page = await queries(adapters).portfolio(HOLDER, Caller(holder_id=HOLDER), cursor)
            pages.append(page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [len(page.credentials) for page in pages] == [100, 100, 50]
        lines = [line for page in pages for line in page.credentials]
        assert sorted(line.id for line in lines) == sorted(credential_id(n) for n in range(1, 251))
        assert {line.id: line.status for line in lines}[credential_id(250)] == "revoked"

    async def test_a_foreign_cursor_is_refused(self, adapters: Adapters) -> None:
        for cursor in ("x", "-1", "3", "1.2.3", "1.-2", "9" * 12 + ".0"):
            with pytest.raises(InvalidCursor):
                await queries(adapters).portfolio(HOLDER, Caller(holder_id=HOLDER), cursor)

    async def test_lists_are_portfolios_and_achievements_only(self, adapters: Adapters) -> None:
        # Competencies have no lists since the search over every credential was retired (the
        # employer search posts consenting credentials only, outside the view).
        feed = Feed(adapters)
        for n in range(1, 46):
            feed.record(issued(n, holder=f"did:example:learner-{n % 7}"))
        feed.record(lifecycle(models.CredentialRevoked, 7, reason="fraud"))
        await feed.flush(batch_size=16)
        chunks = await adapters.documents.find_all(LISTS)
        listed = {d["_id"].split(":", 1)[1] for d in chunks}
        assert listed == {portfolio_list(f"did:example:learner-{n}") for n in range(7)} | {
            achievement_list(ISSUER, issued(1).achievement_id)
        }
        placed = [
            d["placed"] for d in await adapters.documents.find_all(CREDENTIALS) if d.get("issued")
        ]
        assert len(placed) == 45 and all(len(entries) == 2 for entries in placed)

    async def test_counts_by_status_cover_issued_credentials_and_placeholders_apart(
        self, adapters: Adapters
    ) -> None:
        feed = Feed(adapters)
        for n in range(1, 7):
            await feed.issued(n)
        await feed.lifecycle(models.CredentialSuspended, 2)
        await feed.lifecycle(models.CredentialSuspended, 3)
        await feed.lifecycle(models.CredentialExpired, 4, valid_until=samples.VALID_UNTIL)
        await feed.lifecycle(models.CredentialRevoked, 5, reason="fraud")
        await feed.lifecycle(models.CredentialReinstated, 3)
        await feed.lifecycle(models.CredentialRevoked, 7, reason="before its issuance")
        await feed.lifecycle(models.CredentialExpiring, 8, valid_until=samples.VALID_UNTIL)

        stats = await queries(adapters).stats()
        assert stats.by_status == {"active": 3, "suspended": 1, "expired": 1, "revoked": 1}
        assert (stats.credentials, stats.awaiting_issuance) == (6, 2)

    async def test_batch_boundaries_and_redelivery_leave_the_same_view(
        self, adapters: Adapters
    ) -> None:
        """Applied in one batch, or in batches of 3 and then all again: the same documents."""
        feed = Feed(adapters)
        for n in range(1, 21):
            feed.record(issued(n, holder=f"did:example:learner-{n % 4}"), partition=n % 3)
        for n in range(1, 21, 3):
            feed.record(lifecycle(models.CredentialSuspended, n, reason="audit"), partition=n % 3)
        for n in range(1, 21, 6):
            feed.record(lifecycle(models.CredentialReinstated, n), partition=n % 3)
        feed.record(lifecycle(models.CredentialRevoked, 30, reason="early"), partition=0)
        # Per partition, in offset order: what a consumer hands over.
        log = sorted(feed.log, key=lambda e: (e.partition, e.offset))
        await feed.projection.apply(log)
        once = await whole_view(adapters)

        for start in range(0, len(log), 3):
            await feed.projection.apply(log[start : start + 3])
        await feed.projection.apply(log)
        assert await whole_view(adapters) == once
        stats = await queries(adapters).stats()
        # Suspended: 1, 4, 7, 10, 13, 16, 19; reinstated: 1, 7, 13, 19.
        assert stats.by_status == {"active": 17, "suspended": 3, "expired": 0, "revoked": 0}
        assert (stats.credentials, stats.awaiting_issuance) == (20, 1)

    async def test_a_batch_cut_short_after_its_counts_is_completed_by_its_redelivery(
        self, adapters: Adapters
    ) -> None:
        """Counts written, documents not (the process died): the redelivery counts nothing twice."""
        feed = Feed(adapters)
        for n in range(1, 11):
            feed.record(issued(n))
        feed.record(lifecycle(models.CredentialRevoked, 3, reason="fraud"))
        batch = list(feed.log)
        store = adapters.store
        snapshot = await store.snapshot(
            credential_ids=[credential_id(n) for n in range(1, 11)],
            lists=[],
            counter_ids=[f"{TOPIC}:0"],
        )
        changes = fold(snapshot, batch)
        await store.save(ViewChanges(counters=changes.counters))
        assert (await queries(adapters).stats()).credentials == 10
        assert await portfolio_ids(adapters, HOLDER) == []

        await feed.projection.apply(batch)
        stats = await queries(adapters).stats()
        assert stats.by_status == {"active": 9, "suspended": 0, "expired": 0, "revoked": 1}
        assert sorted(await portfolio_ids(adapters, HOLDER)) == sorted(
            credential_id(n) for n in range(1, 11)
        )

    async def test_entries_lost_after_their_documents_are_written_again(
        self, adapters: Adapters
    ) -> None:
        """Documents written, portfolio entries not: the redelivery writes the entries."""
        feed = Feed(adapters)
        feed.record(issued(1))
        batch = list(feed.log)
        snapshot = await adapters.store.snapshot(
            credential_ids=[credential_id(1)], lists=[], counter_ids=[f"{TOPIC}:0"]
        )
        changes = fold(snapshot, batch)
        await adapters.store.save(
            ViewChanges(
                counters=changes.counters, bodies=changes.bodies, credentials=changes.credentials
            )
        )
        assert await portfolio_ids(adapters, HOLDER) == []

        await feed.projection.apply(batch)
        assert await portfolio_ids(adapters, HOLDER) == [credential_id(1)]
        assert (await queries(adapters).stats()).credentials == 1

    async def test_a_list_whose_count_was_forgotten_gets_a_new_chunk_each_batch(
        self, adapters: Adapters
    ) -> None:
        feed = Feed(adapters)
        feed.projection.counts = ChunkCounts(capacity=0)  # remembers nothing
        for n in range(1, 7):
            await feed.issued(n)

        chunks = {
            d["_id"]: d["ids"]
            for d in await adapters.documents.find_all(LISTS)
            if d["_id"].endswith(portfolio_list(HOLDER))
        }
        # One new chunk per batch, counted from the store (six of them: past one probe of four);
        # no batch re-opened an existing chunk, which would fail its whole insert.
        assert chunks == {
            chunk_id(n - 1, portfolio_list(HOLDER)): [credential_id(n)] for n in range(1, 7)
        }
        assert sorted(await portfolio_ids(adapters, HOLDER)) == [
            credential_id(n) for n in range(1, 7)
        ]

    async def test_the_store_counts_the_chunks_of_the_lists_asked(self, adapters: Adapters) -> None:
        feed = Feed(adapters)
        for n in range(1, 6):
            await feed.issued(n)
        await feed.issued(9, holder=OTHER)

        snapshot = await adapters.store.snapshot(
            credential_ids=[],
            lists=[portfolio_list(HOLDER), portfolio_list(OTHER), portfolio_list("nobody")],
            counter_ids=[],
            count_lists=[portfolio_list(HOLDER), portfolio_list(OTHER), portfolio_list("nobody")],
        )

        assert snapshot.list_chunks == {
            portfolio_list(HOLDER): 5,
            portfolio_list(OTHER): 1,
            portfolio_list("nobody"): 0,
        }


class TestInMemoryView(ViewContract):
    @pytest.fixture
    def adapters(self) -> Adapters:
        view = InMemoryView()
        return Adapters(documents=view, store=view)


@pytest.mark.integration
class TestMongoView(ViewContract):
    @pytest.fixture
    async def adapters(self, mongo_db: AsyncDatabase[dict[str, object]]) -> Adapters:
        # The service's own client reads times back timezone-aware (storage.connect).
        db: AsyncDatabase[Document] = mongo_db.with_options(
            codec_options=CodecOptions(tz_aware=True)
        )
        return Adapters(documents=MongoViewDocuments(db), store=MongoViewStore(db))

    async def test_the_achievement_is_stored_as_text_and_read_as_a_document(
        self, adapters: Adapters, mongo_db: AsyncDatabase[dict[str, object]]
    ) -> None:
        feed = Feed(adapters)
        await feed.lifecycle(models.CredentialSuspended, 2)  # a placeholder, issued later
        await feed.issued(1)
        await feed.issued(2)
        # What the projection folds into the document (the sample credentials share one).
        data = issued(1)
        achievement = issued_fields(data, new_envelope(data, source="urn:test"))["achievement"]
        raw = {d["_id"]: d async for d in mongo_db[CREDENTIALS].find({})}
        for n in (1, 2):
            assert json.loads(str(raw[credential_id(n)]["achievement"])) == achievement
            read = await adapters.documents.find_one(CREDENTIALS, credential_id(n))
            assert read is not None and read["achievement"] == achievement
        # A document stored before (the achievement nested) reads the same.
        legacy = {**raw[credential_id(1)], "_id": credential_id(3), "achievement": achievement}
        await mongo_db[CREDENTIALS].insert_one(legacy)
        body = await mongo_db[BODIES].find_one({"_id": credential_id(1)})
        await mongo_db[BODIES].insert_one({**(body or {}), "_id": credential_id(3)})
        (read,) = await adapters.documents.find_many(CREDENTIALS, [credential_id(3)])
        assert read["achievement"] == achievement
        assert (await queries(adapters).credential(credential_id(3), AS_ISSUER)).achievement == (
            (await queries(adapters).credential(credential_id(1), AS_ISSUER)).achievement
        )
