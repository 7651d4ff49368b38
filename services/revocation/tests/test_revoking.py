"""The revoke use case with a fake ownership view: 404, 403, 409, 202, undo on broker failure."""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from credreg_revocation.revoking import RevocationRequest, Revoker
from credreg_shared.events import models
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.web import ProblemError

TOPIC = "t.credreg.credentials"
CREDENTIAL = "urn:uuid:c-1"
OWNER, OTHER = "did:web:uni-a.example", "did:web:uni-b.example"


class FakeOwnership:
    """Atomic like one MongoDB document: each call runs without interleaving."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {
            CREDENTIAL: {"issuer_id": OWNER, "holder_id": "h", "status": "active"}
        }

    async def get(self, credential_id: str) -> dict[str, Any] | None:
        return self.records.get(credential_id)

    async def claim_revocation(
        self, credential_id: str, issuer_id: str, event_id: str
    ) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        record = self.records.get(credential_id)
        if not record or record["issuer_id"] != issuer_id or record["status"] == "revoked":
            return None
        before = dict(record)
        record.update(status="revoked", claimed_by=event_id)
        return before

    async def release_claim(self, credential_id: str, event_id: str, status: str) -> None:
        record = self.records[credential_id]
        if record.get("claimed_by") == event_id:
            record.update(status=status)
            del record["claimed_by"]


def revoker(publisher: InMemoryPublisher, ownership: FakeOwnership) -> Revoker:
    return Revoker(ownership=ownership, publisher=publisher, topic=TOPIC, source="urn:t")


async def status_of(call: Any) -> int:
    try:
        await call
    except ProblemError as problem:
        return problem.status
    return 202


async def test_owner_revokes_once_then_gets_409() -> None:
    publisher, ownership = InMemoryPublisher(), FakeOwnership()
    use_case = revoker(publisher, ownership)
    answer = await use_case.revoke(
        CREDENTIAL, RevocationRequest(reason="outdated"), institution=OWNER
    )
    [event] = publisher.envelopes(TOPIC)
    assert answer["event_id"] == event.id
    assert event.data_as(models.CredentialRevoked).reason == "outdated"
    again = use_case.revoke(CREDENTIAL, RevocationRequest(reason="x"), institution=OWNER)
    assert await status_of(again) == 409


async def test_unknown_is_404_and_another_institution_is_403_with_nothing_published() -> None:
    publisher, ownership = InMemoryPublisher(), FakeOwnership()
    use_case = revoker(publisher, ownership)
    body = RevocationRequest(reason="x")
    assert await status_of(use_case.revoke("urn:uuid:nope", body, institution=OWNER)) == 404
    assert await status_of(use_case.revoke(CREDENTIAL, body, institution=OTHER)) == 403
    assert publisher.envelopes(TOPIC) == []
    assert ownership.records[CREDENTIAL]["status"] == "active"


async def test_concurrent_revocations_publish_exactly_one_event() -> None:
    publisher, ownership = InMemoryPublisher(), FakeOwnership()
    use_case = revoker(publisher, ownership)
    body = RevocationRequest(reason="x")
    statuses = await asyncio.gather(
        *[status_of(use_case.revoke(CREDENTIAL, body, institution=OWNER)) for _ in range(10)]
    )
    assert sorted(statuses) == [202] + [409] * 9
    assert len(publisher.envelopes(TOPIC)) == 1


async def test_broker_down_undoes_the_claim() -> None:
    publisher, ownership = InMemoryPublisher(fail_with=KafkaConnectionError()), FakeOwnership()
    use_case = revoker(publisher, ownership)
    body = RevocationRequest(reason="x")
    assert await status_of(use_case.revoke(CREDENTIAL, body, institution=OWNER)) == 503
    assert ownership.records[CREDENTIAL]["status"] == "active"
    publisher.fail_with = None
    assert await status_of(use_case.revoke(CREDENTIAL, body, institution=OWNER)) == 202


def test_reason_is_required() -> None:
    with pytest.raises(ValueError, match="reason"):
        RevocationRequest.model_validate({"reason": ""})
