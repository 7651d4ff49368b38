"""Stacked credentials over fakes: a completed pathway's award is issued once, however often
its `pathway.completed` comes (redelivery, a replayed log, the registry's relay)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from credreg_issuer.adapters.fakes import in_memory_adapters
from credreg_issuer.bootstrap import build_app
from credreg_issuer.pathway_awards import AwardStackedCredentials, award_key
from credreg_issuer.use_cases import IssueCredentials
from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent

from .fixtures import ADMIN, keeping_settings

pytestmark = pytest.mark.timeout(30)

UNI = "did:web:issuer.example:institutions:uni-a"
AWARD = {
    "achievement": {
        "name": "Data Analyst Certificate",
        "achievement_type": "Certificate",
        "competencies": [{"name": "Analyse data", "code": "DA-1"}],
    }
}


@dataclass
class Awards:
    award: AwardStackedCredentials
    publisher: InMemoryPublisher
    offset: int = 0

    async def deliver(self, *envelopes: Envelope) -> None:
        events = []
        for envelope in envelopes:
            self.offset += 1
            events.append(ConsumedEvent(envelope, "unit.credreg.pathways", 0, self.offset))
        await self.award.apply(events)

    def issued(self) -> list[dict[str, object]]:
        return [
            json.loads(r.value or b"")
            for r in self.publisher.records
            if r.topic.endswith(CREDENTIALS_TOPIC)
        ]


@pytest.fixture
async def awards() -> AsyncIterator[Awards]:
    publisher = InMemoryPublisher()
    app = build_app(keeping_settings(), fakes=in_memory_adapters(publisher=publisher))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as client:
        created = await client.post(
            "/v1/institutions", json={"slug": "uni-a", "name": "Uni A"}, headers=ADMIN
        )
        assert created.status_code == 201
    yield Awards(AwardStackedCredentials(issue=app.state.use_cases[IssueCredentials]), publisher)


def completion(
    holder: str = "did:example:ada", award: dict[str, object] | None = AWARD
) -> Envelope:
    data = models.PathwayCompleted(
        pathway_id="data-analyst",
        issuer_id=UNI,
        holder_id=holder,
        credential_ids=("urn:uuid:a", "urn:uuid:b"),
        award=award,
    )
    return new_envelope(data, source="urn:credreg:registry")


async def test_a_completion_awards_its_stacked_credential_once(awards: Awards) -> None:
    completed = completion()
    await awards.deliver(completed)
    await awards.deliver(completed)  # redelivered
    await awards.deliver(completed, completed)  # twice in one batch, after a replay
    [issued] = awards.issued()
    assert issued["holder_id"] == "did:example:ada"
    assert issued["issuer_id"] == UNI
    assert issued["achievement_name"] == "Data Analyst Certificate"
    credential = issued["credential"]
    assert isinstance(credential, dict) and credential["proof"]  # signed by the institution


async def test_each_completion_is_its_own_award(awards: Awards) -> None:
    await awards.deliver(completion("did:example:ada"), completion("did:example:grace"))
    holders = sorted(str(i["holder_id"]) for i in awards.issued())
    assert holders == ["did:example:ada", "did:example:grace"]


async def test_a_completion_without_an_award_or_with_a_bad_one_issues_nothing(
    awards: Awards,
) -> None:
    await awards.deliver(completion(award=None), completion(award={"achievement": {"name": ""}}))
    assert awards.issued() == []


def test_the_award_key_is_derived_from_the_completion_event() -> None:
    completed = completion()
    assert award_key(completed.id) == f"pathway-completed:{completed.id}"
    assert award_key(completed.id) != award_key(completion().id)
