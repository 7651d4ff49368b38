"""One contract for the credential view, run against the in-memory fake and MongoDB.

The same events go through the projection into each view; the reader must then answer the
same: the fake stands in for MongoDB in the unit tests, so both must agree on what the
projection's updates leave behind and on how the reader selects, orders and counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson.codec_options import CodecOptions
from pymongo.asynchronous.database import AsyncDatabase

from credreg_registry.adapters.fakes import InMemoryCredentialReader
from credreg_registry.adapters.mongo import INDEXES, MongoCredentialReader, view_writer
from credreg_registry.domain import (
    Achievement,
    CredentialSummary,
    CredentialView,
    ExpiringNotice,
    Revocation,
    Suspension,
)
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.storage import ensure_indexes
from credreg_shared.storage.fakes import InMemoryIdempotentCollection
from credreg_shared.storage.ports import Document

HOLDER, OTHER = "did:example:holder", "did:example:other"
ISSUER = samples.SAMPLE_ISSUER
# Whole seconds: MongoDB keeps milliseconds only, and both views must hold the same times.
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def credential_id(n: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{n:012d}"


class Feed:
    """Events into one view through the projection's handler table, one minute apart."""

    def __init__(self, adapters: Adapters) -> None:
        self.registry = CredentialProjection(adapters.view).register(HandlerRegistry())
        self.minutes = 0

    @property
    def now(self) -> datetime:
        return START + timedelta(minutes=self.minutes)

    async def __call__(self, data: models.EventData) -> datetime:
        """Apply one event; return its time."""
        self.minutes += 1
        envelope = new_envelope(data, source="urn:test", time=self.now)
        for handler in self.registry.handlers_for(envelope.type):
            await handler(envelope)
        return self.now

    async def issued(
        self, n: int, holder: str = HOLDER, valid_from: datetime | None = None
    ) -> datetime:
        data = samples.credential_issued(credential_id(n), holder_id=holder)
        if valid_from is not None:
            data = data.model_copy(update={"valid_from": valid_from})
        return await self(data)

    async def lifecycle(
        self, kind: type[models.CredentialEvent], n: int, holder: str = HOLDER, **extra: object
    ) -> datetime:
        common = {"credential_id": credential_id(n), "issuer_id": ISSUER, "holder_id": holder}
        return await self(kind.model_validate({**common, **extra}))


class ReaderContract:
    """What every `CredentialReader` over the projected view answers; subclasses give `adapters`."""

    async def test_an_empty_view_has_nothing_and_lists_every_status(
        self, adapters: Adapters
    ) -> None:
        assert await adapters.reader.credential(credential_id(1)) is None
        assert await adapters.reader.holder_credentials(HOLDER) == []
        assert await adapters.reader.count_by_status() == {
            "active": 0,
            "suspended": 0,
            "expired": 0,
            "revoked": 0,
        }
        assert await adapters.reader.count_awaiting_issuance() == 0

    async def test_a_credential_reads_back_with_its_whole_history(self, adapters: Adapters) -> None:
        feed = Feed(adapters)
        issued_at = await feed.issued(1)
        await feed.lifecycle(models.CredentialSuspended, 1, reason="audit")
        reinstated_at = await feed.lifecycle(models.CredentialReinstated, 1)
        noticed_at = await feed.lifecycle(
            models.CredentialExpiring, 1, valid_until=samples.VALID_UNTIL
        )
        revoked_at = await feed.lifecycle(
            models.CredentialRevoked, 1, reason="superseded", superseded_by="urn:x:2"
        )
        issued = samples.credential_issued(credential_id(1), holder_id=HOLDER)

        assert await adapters.reader.credential(credential_id(1)) == CredentialView(
            id=credential_id(1),
            issuer_id=ISSUER,
            holder_id=HOLDER,
            status="revoked",
            achievement=Achievement(
                id=issued.achievement_id,
                name="CPR and First Aid",
                type="MicroCredential",
                competencies=list(issued.competencies),
            ),
            valid_from=samples.VALID_FROM,
            valid_until=samples.VALID_UNTIL,
            credential=issued.credential,
            issued_at=issued_at,
            updated_at=revoked_at,
            revocation=Revocation(
                reason="superseded", superseded_by="urn:x:2", revoked_at=revoked_at
            ),
            expiring=ExpiringNotice(valid_until=samples.VALID_UNTIL, noticed_at=noticed_at),
            reinstated_at=reinstated_at,
        )

    async def test_a_suspension_reads_back(self, adapters: Adapters) -> None:
        feed = Feed(adapters)
        await feed.issued(1)
        suspended_at = await feed.lifecycle(models.CredentialSuspended, 1, reason="audit")
        found = await adapters.reader.credential(credential_id(1))
        assert found is not None
        assert (found.status, found.suspension) == (
            "suspended",
            Suspension(reason="audit", suspended_at=suspended_at),
        )

    async def test_placeholders_stay_hidden_until_their_issuance(self, adapters: Adapters) -> None:
        feed = Feed(adapters)
        revoked_at = await feed.lifecycle(models.CredentialRevoked, 1, reason="superseded")
        await feed.lifecycle(models.CredentialSuspended, 2)
        assert await adapters.reader.credential(credential_id(1)) is None
        assert await adapters.reader.holder_credentials(HOLDER) == []
        assert sum((await adapters.reader.count_by_status()).values()) == 0
        assert await adapters.reader.count_awaiting_issuance() == 2

        await feed.issued(1)
        found = await adapters.reader.credential(credential_id(1))
        assert found is not None
        assert (found.status, found.revocation) == (
            "revoked",
            Revocation(reason="superseded", revoked_at=revoked_at),
        )
        assert await adapters.reader.count_awaiting_issuance() == 1
        assert (await adapters.reader.count_by_status())["revoked"] == 1

    async def test_a_portfolio_is_the_holders_issued_credentials_oldest_first(
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

        portfolio = await adapters.reader.holder_credentials(HOLDER)
        assert [(line.id, line.status) for line in portfolio] == [
            (credential_id(1), "active"),
            (credential_id(2), "active"),
            (credential_id(4), "active"),
            (credential_id(3), "expired"),
        ]
        assert portfolio[0] == CredentialSummary(
            id=credential_id(1),
            status="active",
            issuer_id=ISSUER,
            achievement_name="CPR and First Aid",
            achievement_type="MicroCredential",
            valid_from=samples.VALID_FROM - day,
            valid_until=samples.VALID_UNTIL,
        )
        assert [line.id for line in await adapters.reader.holder_credentials(OTHER)] == [
            credential_id(5)
        ]

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

        assert await adapters.reader.count_by_status() == {
            "active": 3,
            "suspended": 1,
            "expired": 1,
            "revoked": 1,
        }
        assert await adapters.reader.count_awaiting_issuance() == 2


class TestInMemoryReader(ReaderContract):
    @pytest.fixture
    def adapters(self) -> Adapters:
        view = InMemoryIdempotentCollection()
        return Adapters(reader=InMemoryCredentialReader(view), view=view)


@pytest.mark.integration
class TestMongoReader(ReaderContract):
    @pytest.fixture
    async def adapters(self, mongo_db: AsyncDatabase[dict[str, object]]) -> Adapters:
        # The service's own client reads times back timezone-aware (storage.connect).
        db: AsyncDatabase[Document] = mongo_db.with_options(
            codec_options=CodecOptions(tz_aware=True)
        )
        await ensure_indexes(db, INDEXES)
        return Adapters(reader=MongoCredentialReader(db), view=view_writer(db))
