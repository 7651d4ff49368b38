"""Reissue and supersede over fakes: the replacement is issued and known before the old
credential is revoked naming it; refusals issue nothing; retries issue nothing twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from credreg_revocation.adapters.fakes import (
    InMemoryCredentialIssuer,
    InMemoryCredentialRepository,
    InMemoryExpiryPolicies,
    InMemoryExpirySchedule,
)
from credreg_revocation.bootstrap import build_app
from credreg_revocation.domain import (
    REVOCATION,
    ChangeStatus,
    InvalidReplacement,
    NotTheIssuer,
    ReplacementRefused,
    TransitionNotAllowed,
)
from credreg_revocation.ports import Adapters
from credreg_revocation.projection import OwnershipProjection
from credreg_revocation.settings import RevocationSettings
from credreg_revocation.supersession import (
    Reissue,
    ReplacementNotKnownYet,
    Supersessions,
    idempotency_key,
)
from credreg_revocation.use_cases import StatusChanges
from credreg_shared.api_keys import InMemoryInstitutionKeys
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.issuance import IssueCredential
from credreg_shared.messaging import InMemoryPublisher

TOPIC = "t.credreg.credentials"
OWNER, OTHER = samples.SAMPLE_ISSUER, "did:web:other-university.example"
HOLDER = samples.SAMPLE_HOLDER
OLD = "urn:uuid:0ld00000-0000-4000-8000-000000000001"
AUTH = "Bearer key-owner"


def replacement(holder: str = HOLDER) -> IssueCredential:
    return IssueCredential.model_validate(
        {
            "holder_id": holder,
            "achievement": {
                "name": "CPR and First Aid (2030 guidelines)",
                "competencies": [{"name": "Adult CPR", "code": "FA-1"}],
            },
        }
    )


class Service:
    """The use case over fakes; the fake issuer's credentials reach the view like the log's."""

    def __init__(self) -> None:
        self.credentials = InMemoryCredentialRepository()
        self.publisher = InMemoryPublisher()
        self.issuer = InMemoryCredentialIssuer()
        self.projection = OwnershipProjection(self.credentials)
        self.changes = StatusChanges(
            credentials=self.credentials, publisher=self.publisher, topic=TOPIC, source="urn:t"
        )
        self.supersessions = Supersessions(
            changes=self.changes, issuer=self.issuer, wait_seconds=0.05, poll_seconds=0.01
        )
        self.issuer.on_issued = self.record
        self.order: list[str] = []

    async def record(self, credential_id: str, command: IssueCredential) -> None:
        data = samples.credential_issued(credential_id, command.holder_id)
        await self.projection.on_issued(new_envelope(data, source="urn:issuer"))
        self.order.append(f"issued {credential_id}")

    async def issue_old(self) -> None:
        data = samples.credential_issued(OLD, HOLDER)
        await self.projection.on_issued(new_envelope(data, source="urn:issuer"))

    def revocations(self) -> list[models.CredentialRevoked]:
        return [
            e.data
            for e in self.publisher.envelopes()
            if isinstance(e.data, models.CredentialRevoked)
        ]

    def reissue(self, institution: str = OWNER, holder: str = HOLDER) -> Reissue:
        return Reissue(OLD, institution, replacement(holder), authorization=AUTH)


@pytest.fixture
async def service() -> Service:
    found = Service()
    await found.issue_old()
    return found


async def test_the_replacement_is_active_before_the_old_credential_is_revoked(
    service: Service,
) -> None:
    done = await service.supersessions.reissue(service.reissue())
    [(command, authorization, key)] = service.issuer.calls
    assert (authorization, key) == (AUTH, idempotency_key(OLD))
    assert command.holder_id == HOLDER
    new = await service.credentials.get(done.replacement_id)
    assert new is not None and new.status == "active"
    [revoked] = service.revocations()
    assert (revoked.credential_id, revoked.reason) == (OLD, "superseded")
    assert revoked.superseded_by == done.replacement_id
    assert done.revocation is not None and done.revocation.status == "revoked"
    old = await service.credentials.get(OLD)
    assert old is not None and old.superseded_by == done.replacement_id


async def test_a_retry_issues_nothing_twice_and_answers_the_same_replacement(
    service: Service,
) -> None:
    first = await service.supersessions.reissue(service.reissue())
    again = await service.supersessions.reissue(service.reissue())
    assert again.replacement_id == first.replacement_id
    assert again.revocation is None, "revoked by the first attempt"
    assert len(service.revocations()) == 1


@pytest.mark.parametrize(
    ("institution", "holder", "error"),
    [
        (OTHER, HOLDER, NotTheIssuer),
        (OWNER, "did:example:someone-else", InvalidReplacement),
    ],
)
async def test_refusals_come_before_anything_is_issued(
    service: Service, institution: str, holder: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await service.supersessions.reissue(service.reissue(institution, holder))
    assert service.issuer.calls == []
    assert service.revocations() == []


async def test_a_credential_revoked_for_another_reason_cannot_be_superseded(
    service: Service,
) -> None:
    await service.changes.handle(ChangeStatus(OLD, OWNER, REVOCATION, reason="fraud"))
    with pytest.raises(TransitionNotAllowed):
        await service.supersessions.reissue(service.reissue())
    assert service.issuer.calls == []


async def test_an_issuer_refusal_revokes_nothing(service: Service) -> None:
    service.issuer.refuse_with = ReplacementRefused("the issuer refused the replacement: x")
    with pytest.raises(ReplacementRefused):
        await service.supersessions.reissue(service.reissue())
    assert service.revocations() == []
    old = await service.credentials.get(OLD)
    assert old is not None and old.status == "active"


async def test_a_replacement_not_read_yet_is_a_retry_later_that_issues_nothing_twice(
    service: Service,
) -> None:
    late: list[tuple[str, IssueCredential]] = []

    async def not_yet(credential_id: str, command: IssueCredential) -> None:
        late.append((credential_id, command))

    service.issuer.on_issued = not_yet
    with pytest.raises(ReplacementNotKnownYet, match="retry the same request"):
        await service.supersessions.reissue(service.reissue())
    assert service.revocations() == []
    await service.record(*late[0])  # the consumer reads it now
    done = await service.supersessions.reissue(service.reissue())
    assert done.replacement_id == late[0][0]
    assert [r.superseded_by for r in service.revocations()] == [late[0][0]]


# --- over HTTP ----------------------------------------------------------------------------


async def test_the_route_answers_201_with_the_replacement_and_the_revocation() -> None:
    service = Service()
    await service.issue_old()
    adapters = Adapters(
        credentials=service.credentials,
        publisher=service.publisher,
        keys=InMemoryInstitutionKeys(),
        schedule=InMemoryExpirySchedule(),
        policies=InMemoryExpiryPolicies(),
        issuer=service.issuer,
    )
    settings = RevocationSettings(api_keys={"key-owner": OWNER, "key-other": OTHER})
    app = build_app(settings, fakes=adapters)
    body: dict[str, Any] = {"replacement": replacement().model_dump(mode="json")}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://revocation"
    ) as client:
        path = f"/v1/credentials/{OLD}/supersession"
        foreign = await client.post(path, json=body, headers={"Authorization": "Bearer key-other"})
        assert foreign.status_code == 403, foreign.text
        other_holder = {"replacement": replacement("did:example:x").model_dump(mode="json")}
        wrong = await client.post(path, json=other_holder, headers={"Authorization": AUTH})
        assert wrong.status_code == 422, wrong.text
        assert wrong.headers["content-type"].startswith("application/problem+json")
        invalid = await client.post(path, json={"replacement": {}}, headers={"Authorization": AUTH})
        assert invalid.status_code == 422
        assert service.issuer.calls == []
        answer = await client.post(path, json=body, headers={"Authorization": AUTH})
        assert answer.status_code == 201, answer.text
        found = answer.json()
        assert found["revocation"]["id"] == OLD
        assert found["revocation"]["status"] == "revoked"
        [revoked] = service.revocations()
        assert revoked.superseded_by == found["replacement"]["id"]
