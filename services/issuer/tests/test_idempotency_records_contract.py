"""One contract for `IdempotencyRecords`, run on the in-memory fake and on MongoDB."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from credreg_issuer.adapters.fakes import InMemoryIdempotencyRecords
from credreg_issuer.adapters.mongo import INDEXES, MongoIdempotencyRecords
from credreg_issuer.domain import CredentialSigner, credential_id_for, prepare_issuance
from credreg_issuer.ports import IdempotencyRecord, IdempotencyRecords
from credreg_shared.storage import Document, ensure_indexes

from .fixtures import OTHER_UNI, UNI, command


def record(institution: str, key: str, holder: str = "did:example:ada") -> IdempotencyRecord:
    wanted = command(holder)
    envelope = prepare_issuance(
        wanted,
        institution=institution,
        credential_id=credential_id_for(institution, key),
        source="urn:credreg:issuer",
        signer=CredentialSigner({}),
    )
    return IdempotencyRecord.of(
        envelope, institution_id=institution, key=key, request_digest=wanted.digest()
    )


@pytest.fixture(params=["in-memory", pytest.param("mongo", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest) -> AsyncDatabase[Document] | None:
    """No database for the fake; this test's own MongoDB database for the adapter."""
    # Asked for here, outside the event loop: only the Mongo run needs the real server.
    if request.param == "in-memory":
        return None
    found: AsyncDatabase[Document] = request.getfixturevalue("mongo_db")
    return found


@pytest.fixture
async def records(database: AsyncDatabase[Document] | None) -> IdempotencyRecords:
    """The fake, or the MongoDB adapter (with its indexes)."""
    if database is None:
        return InMemoryIdempotencyRecords()
    await ensure_indexes(database, INDEXES)
    return MongoIdempotencyRecords(database)


class TestIdempotencyRecordsContract:
    """What every `IdempotencyRecords` must do, on the fake and on MongoDB alike."""

    async def test_the_first_record_for_a_key_wins_and_comes_back_byte_for_byte(
        self, records: IdempotencyRecords
    ) -> None:
        first = record(UNI, "k-1")
        assert await records.reserve(first) == first
        later = record(UNI, "k-1", holder="did:example:grace")
        stored = await records.reserve(later)
        assert stored == first
        assert stored.envelope == first.envelope
        assert stored.published is False

    async def test_keys_are_scoped_per_institution(self, records: IdempotencyRecords) -> None:
        mine, theirs = record(UNI, "k-1"), record(OTHER_UNI, "k-1")
        assert await records.reserve(mine) == mine
        assert await records.reserve(theirs) == theirs

    async def test_marking_published_is_seen_by_the_next_reservation(
        self, records: IdempotencyRecords
    ) -> None:
        first = record(UNI, "k-1")
        await records.reserve(first)
        await records.mark_many_published(UNI, ["k-1"])
        stored = await records.reserve(record(UNI, "k-1"))
        assert stored.published is True
        assert stored.event == first.event

    async def test_racing_reservations_agree_on_one_record(
        self, records: IdempotencyRecords
    ) -> None:
        candidates = [record(UNI, "k-race") for _ in range(8)]
        stored = await asyncio.gather(*[records.reserve(c) for c in candidates])
        assert len({s.event.value for s in stored}) == 1
        assert stored[0] in candidates
