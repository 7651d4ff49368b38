"""One contract for the credential repository, run against the in-memory fake and MongoDB.

The fake stands in for MongoDB in the unit tests, so both must agree on what each update does;
the MongoDB run also proves the claim is atomic across concurrent callers on the real server.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from credreg_revocation.adapters.fakes import InMemoryCredentialRepository
from credreg_revocation.adapters.mongo import COLLECTION, PENDING, MongoCredentialRepository
from credreg_revocation.domain import CredentialRecord
from credreg_revocation.expiry import Announcement
from credreg_revocation.ports import CredentialRepository
from credreg_shared.errors import StorageUnavailable
from credreg_shared.events.cloudevents import KafkaRecord

CREDENTIAL, ISSUER, HOLDER = "urn:uuid:c-1", "did:web:uni.example", "did:example:holder"
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
REVOCABLE = frozenset({"active", "suspended"})


async def issued(repository: CredentialRepository, event_id: str = "e-issued") -> bool:
    return await repository.record_issued(
        CREDENTIAL, issuer_id=ISSUER, holder_id=HOLDER, event_id=event_id
    )


async def status_event(
    repository: CredentialRepository, event_id: str, status: str, sources: set[str]
) -> bool:
    return await repository.record_status(
        CREDENTIAL,
        issuer_id=ISSUER,
        holder_id=HOLDER,
        event_id=event_id,
        status=status,
        sources=frozenset(sources),
    )


async def claim(
    repository: CredentialRepository, event_id: str, issuer: str = ISSUER
) -> CredentialRecord | None:
    return await repository.claim(
        CREDENTIAL, issuer_id=issuer, event_id=event_id, status="revoked", sources=REVOCABLE
    )


async def status(repository: CredentialRepository) -> str | None:
    record = await repository.get(CREDENTIAL)
    return record.status if record else None


class RepositoryContract:
    """The behaviour every `CredentialRepository` must have; subclasses give `repository`."""

    async def test_a_claim_counts_a_change_and_is_refused_for_a_stale_count(
        self, repository: CredentialRepository
    ) -> None:
        assert await issued(repository)
        record = await repository.get(CREDENTIAL)
        assert record is not None and record.changes == 0

        async def claimed(event_id: str, changes: int) -> CredentialRecord | None:
            return await repository.claim(
                CREDENTIAL,
                issuer_id=ISSUER,
                event_id=event_id,
                status="suspended",
                sources=frozenset({"active"}),
                changes=changes,
            )

        assert await claimed("e-1", changes=1) is None, "a count that is not the credential's"
        assert await claimed("e-1", changes=0) is not None
        record = await repository.get(CREDENTIAL)
        assert record is not None and (record.status, record.changes) == ("suspended", 1)
        assert await repository.release(CREDENTIAL, event_id="e-1", status="active")
        record = await repository.get(CREDENTIAL)
        assert record is not None and (record.status, record.changes) == ("active", 0)
        assert await claimed("e-1", changes=0) is not None, "the retry counts from the same place"

    async def test_issued_once_is_active_and_a_redelivery_is_reported(
        self, repository: CredentialRepository
    ) -> None:
        assert await repository.get(CREDENTIAL) is None
        assert await issued(repository)
        assert not await issued(repository)
        assert await repository.get(CREDENTIAL) == CredentialRecord(
            CREDENTIAL, ISSUER, HOLDER, "active"
        )

    async def test_status_moves_only_from_its_sources_and_marks_the_event_anyway(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        assert await status_event(repository, "e-revoked", "revoked", {"active", "suspended"})
        assert await status_event(repository, "e-suspended", "suspended", {"active"})
        assert await status(repository) == "revoked"
        assert not await status_event(repository, "e-suspended", "suspended", {"active"})
        assert not await status_event(repository, "e-revoked", "revoked", {"active"})

    async def test_a_claimed_change_read_back_from_the_log_changes_nothing(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        assert await claim(repository, "e-rev") is not None
        assert not await status_event(repository, "e-rev", "revoked", REVOCABLE)
        record = await repository.get(CREDENTIAL)
        assert record is not None and record.status == "revoked"
        assert record.changes == 1, "the service's own change counted twice"

    async def test_a_released_claim_read_back_from_the_log_is_applied(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        assert await claim(repository, "e-rev") is not None
        assert await repository.release(CREDENTIAL, event_id="e-rev", status="active")
        # The broker stored the event after all: the view follows the log.
        assert await status_event(repository, "e-rev", "revoked", REVOCABLE)
        assert await status(repository) == "revoked"

    async def test_status_event_before_issuance_creates_the_record_and_issuance_keeps_it(
        self, repository: CredentialRepository
    ) -> None:
        assert await status_event(repository, "e-revoked", "revoked", {"active"})
        assert await issued(repository)
        assert await repository.get(CREDENTIAL) == CredentialRecord(
            CREDENTIAL,
            ISSUER,
            HOLDER,
            "revoked",
            changes=1,  # a change from the log, counted
        )

    async def test_claim_is_conditional_and_returns_the_record_before(
        self, repository: CredentialRepository
    ) -> None:
        assert await claim(repository, "e-0") is None, "unknown credential"
        await issued(repository)
        assert await claim(repository, "e-1", issuer="did:web:other.example") is None
        before = await claim(repository, "e-2")
        assert before == CredentialRecord(CREDENTIAL, ISSUER, HOLDER, "active")
        assert await status(repository) == "revoked"
        assert await claim(repository, "e-3") is None, "already revoked"
        assert not await status_event(repository, "e-2", "revoked", {"active"}), "own event"

    async def test_release_undoes_only_its_own_claim_and_forgets_its_event(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        await claim(repository, "e-claim")
        assert not await repository.release(CREDENTIAL, event_id="e-other", status="active")
        assert await status(repository) == "revoked"
        assert await repository.release(CREDENTIAL, event_id="e-claim", status="active")
        assert await status(repository) == "active"
        assert not await repository.release(CREDENTIAL, event_id="e-claim", status="suspended")
        # Should the broker have stored the event after all, the log still gets its way.
        assert await status_event(repository, "e-claim", "revoked", {"active"})
        assert await status(repository) == "revoked"

    async def test_an_issued_credential_keeps_its_expiry_and_achievement(
        self, repository: CredentialRepository
    ) -> None:
        await repository.record_issued(
            CREDENTIAL, issuer_id=ISSUER, holder_id=HOLDER, event_id="e-i",
            valid_until=T0, achievement_id="urn:uuid:a-1",
        )  # fmt: skip
        found = await repository.get_many([CREDENTIAL, "urn:uuid:unknown"])
        assert found == {
            CREDENTIAL: CredentialRecord(
                CREDENTIAL, ISSUER, HOLDER, "active", valid_until=T0, achievement_id="urn:uuid:a-1"
            )
        }

    async def test_a_notice_is_claimed_once_from_its_sources_and_never_over_an_outbox(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        expired = Announcement(CREDENTIAL, "expired", "e-x", "expired", REVOCABLE)
        expiring = Announcement(CREDENTIAL, "expiring:7", "e-7", None, frozenset({"active"}))
        await repository.announce([expiring])
        await repository.announce([expiring])
        record = await repository.get(CREDENTIAL)
        assert record is not None and record.announced == {"expiring:7"}
        assert record.status == "active"
        await repository.mark_pending(CREDENTIAL, event_id="e-s", at=T0)
        await repository.claim(
            CREDENTIAL, issuer_id=ISSUER, event_id="e-s", status="suspended",
            sources=frozenset({"active"}), outbox=KafkaRecord(b"k", b"v", []),
        )  # fmt: skip
        await repository.announce([expired])
        record = await repository.get(CREDENTIAL)
        assert record is not None and record.busy and record.status == "suspended"
        assert "expired" not in record.announced, "an outbox waits: after it"
        await repository.published(CREDENTIAL, event_id="e-s")
        await repository.announce([expired])
        record = await repository.get(CREDENTIAL)
        assert record is not None and record.status == "expired" and not record.busy
        assert record.announced == {"expiring:7", "expired"}
        assert not await status_event(repository, "e-x", "expired", REVOCABLE), "own event"

    async def test_concurrent_notice_claims_change_the_status_once(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        expired = Announcement(CREDENTIAL, "expired", "e-x", "expired", REVOCABLE)
        await asyncio.gather(*[repository.announce([expired]) for _ in range(10)])
        assert await status(repository) == "expired"
        assert not await repository.release(CREDENTIAL, event_id="e-x", status="active")

    async def test_a_notice_read_from_the_log_counts_as_announced_once(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        await repository.record_announced(CREDENTIAL, kind="expiring:30", event_id="e-30")
        await repository.record_announced(CREDENTIAL, kind="expiring:30", event_id="e-30")
        record = await repository.get(CREDENTIAL)
        assert record is not None and record.announced == {"expiring:30"}

    async def test_a_supersession_claim_keeps_the_replacement(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        await repository.claim(
            CREDENTIAL, issuer_id=ISSUER, event_id="e-r", status="revoked", sources=REVOCABLE,
            superseded_by="urn:uuid:new",
        )  # fmt: skip
        record = await repository.get(CREDENTIAL)
        assert record is not None and record.superseded_by == "urn:uuid:new"

    async def test_concurrent_claims_have_exactly_one_winner(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        claims = await asyncio.gather(*[claim(repository, f"e-{n}") for n in range(20)])
        assert len([found for found in claims if found is not None]) == 1
        assert await status(repository) == "revoked"

    async def test_a_claim_keeps_its_event_in_the_outbox_until_it_is_published(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        event = KafkaRecord(b"urn:uuid:c-1", b'{"x": 1}', [("ce_id", b"e-1"), ("ce_type", b"t")])
        await repository.mark_pending(CREDENTIAL, event_id="e-1", at=T0)
        before = await repository.claim(
            CREDENTIAL, issuer_id=ISSUER, event_id="e-1", status="revoked", sources=REVOCABLE,
            outbox=event,
        )  # fmt: skip

        assert before is not None
        assert await repository.outbox(CREDENTIAL) == ("e-1", event)
        assert await repository.pending(before=T0) == []
        assert await repository.pending(before=T0 + timedelta(seconds=1)) == [(CREDENTIAL, "e-1")]
        # While its event waits, no other change is claimed: the events leave in order.
        assert await claim(repository, "e-2") is None

        await repository.published(CREDENTIAL, event_id="e-1")
        assert await repository.outbox(CREDENTIAL) is None
        assert await repository.pending(before=T0 + timedelta(days=1)) == []
        assert await status(repository) == "revoked"

    async def test_a_losing_request_for_the_same_change_keeps_the_winners_marker(
        self, repository: CredentialRepository
    ) -> None:
        # Two requests for one change derive one event id: both note it, one claims.
        await issued(repository)
        event = KafkaRecord(b"urn:uuid:c-1", b"{}", [("ce_id", b"e-1")])
        await repository.mark_pending(CREDENTIAL, event_id="e-1", at=T0)
        await repository.mark_pending(CREDENTIAL, event_id="e-1", at=T0)  # the loser's: no error
        await repository.claim(
            CREDENTIAL, issuer_id=ISSUER, event_id="e-1", status="revoked", sources=REVOCABLE,
            outbox=event,
        )  # fmt: skip
        await repository.forget_pending(CREDENTIAL, event_id="e-1")  # the loser gives up
        later = T0 + timedelta(days=1)
        assert await repository.pending(before=later) == [(CREDENTIAL, "e-1")], "marker lost"
        assert await repository.outbox(CREDENTIAL) == ("e-1", event), "outbox cleared"
        await repository.published(CREDENTIAL, event_id="e-1")
        await repository.mark_pending(CREDENTIAL, event_id="e-9", at=T0)
        await repository.forget_pending(CREDENTIAL, event_id="e-9")  # no claim: dropped
        assert await repository.pending(before=later) == []

    async def test_a_release_drops_the_outbox_and_the_marker(
        self, repository: CredentialRepository
    ) -> None:
        await issued(repository)
        event = KafkaRecord(b"urn:uuid:c-1", b"{}", [("ce_id", b"e-1")])
        await repository.mark_pending(CREDENTIAL, event_id="e-1", at=T0)
        await repository.claim(
            CREDENTIAL, issuer_id=ISSUER, event_id="e-1", status="revoked", sources=REVOCABLE,
            outbox=event,
        )  # fmt: skip

        assert await repository.release(CREDENTIAL, event_id="e-1", status="active")
        assert await repository.outbox(CREDENTIAL) is None
        assert await repository.pending(before=T0 + timedelta(days=1)) == []
        assert await claim(repository, "e-2") is not None


class TestInMemoryRepository(RepositoryContract):
    @pytest.fixture
    def repository(self) -> CredentialRepository:
        return InMemoryCredentialRepository()


@pytest.mark.integration
class TestMongoRepository(RepositoryContract):
    @pytest.fixture
    def repository(self, mongo_db: AsyncDatabase[dict[str, object]]) -> CredentialRepository:
        return MongoCredentialRepository(mongo_db)


@pytest.mark.integration
async def test_published_markers_are_dropped_a_batch_at_a_time(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    repository = MongoCredentialRepository(mongo_db, gather_marker_deletes=2)
    await issued(repository)
    event = KafkaRecord(b"urn:uuid:c-1", b"{}", [("ce_id", b"e-1")])
    await repository.mark_pending(CREDENTIAL, event_id="e-1", at=T0)
    await repository.claim(
        CREDENTIAL, issuer_id=ISSUER, event_id="e-1", status="revoked", sources=REVOCABLE,
        outbox=event,
    )  # fmt: skip
    await repository.published(CREDENTIAL, event_id="e-1")
    later = T0 + timedelta(days=1)
    # Lingering until the batch fills: the relay sees it, but the outbox is empty.
    assert await repository.pending(before=later) == [(CREDENTIAL, "e-1")]
    assert await repository.outbox(CREDENTIAL) is None
    await repository.mark_pending(CREDENTIAL, event_id="e-2", at=T0)
    await repository.published(CREDENTIAL, event_id="e-2")
    assert await repository.pending(before=later) == [], "the batch of two went out"


class CollectionInAnOutage:
    """Stands in for a PyMongo collection whose server is unreachable."""

    async def _unreachable(self, *args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("connection refused")

    find_one = find_one_and_update = update_one = insert_one = _unreachable
    replace_one = delete_one = _unreachable


async def test_the_mongo_adapter_reports_a_database_outage_as_storage_unavailable() -> None:
    outage = cast(
        AsyncDatabase[dict[str, Any]],
        {COLLECTION: CollectionInAnOutage(), PENDING: CollectionInAnOutage()},
    )
    repository = MongoCredentialRepository(outage)
    with pytest.raises(StorageUnavailable):
        await repository.get(CREDENTIAL)
    with pytest.raises(StorageUnavailable):
        await claim(repository, "e-1")
    with pytest.raises(StorageUnavailable):
        await repository.release(CREDENTIAL, event_id="e-1", status="active")
