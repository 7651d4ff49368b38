"""Stackable pathways over fakes: definitions (and their 422s), progress from the credential
events, one `pathway.completed` per (holder, pathway) even on redelivery, a second replica, a
definition whose back-fill finds holders already done, a publish that fails (the outbox relay),
and deletion."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from credreg_registry.adapters.fakes import InMemoryPathwayStore, InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.pathway_backfill import Backfiller
from credreg_registry.pathway_layout import (
    COMPLETIONS,
    HOLDER_PATHWAYS,
    OUTBOX,
    PATHWAY_INDEX,
    completion_event_id,
    index_key,
)
from credreg_registry.pathways import (
    InvalidPathway,
    ManagePathways,
    NotYourPathway,
    PathwayNotFound,
    PathwayRequest,
    PathwayTracker,
)
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.errors import PublishUnavailable
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope, from_record, new_envelope
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent

pytestmark = pytest.mark.timeout(30)

ISSUER = samples.SAMPLE_ISSUER
OTHER_ISSUER = "did:web:other.example"
HOLDER = samples.SAMPLE_HOLDER
ACHIEVEMENTS = [f"urn:uuid:00000000-0000-4000-8000-00000000000{n}" for n in range(1, 5)]
TOPIC = "credreg.pathways"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OFFSETS = itertools.count()
TOKEN_KEY = Ed25519KeyPair.generate()
MINTER = HolderTokenMinter(TOKEN_KEY, lifetime=timedelta(hours=1))


class World:
    """A view, its projection following pathways, and the pathways' store and use case."""

    def __init__(self, view: InMemoryView | None = None, store: InMemoryPathwayStore | None = None):
        self.view = view or InMemoryView()
        self.store = store or InMemoryPathwayStore()
        self.publisher = InMemoryPublisher()
        self.clock_now = START
        self.tracker = PathwayTracker(
            store=self.store,
            view=self.view,
            publisher=self.publisher,
            topic=TOPIC,
            source="urn:credreg:registry",
            clock=lambda: self.clock_now,
        )
        self.projection = CredentialProjection(self.view, self.tracker)
        self.pathways = ManagePathways(
            tracker=self.tracker, view=self.view, clock=lambda: self.clock_now
        )
        self.backfiller = Backfiller(self.tracker, self.view, clock=lambda: self.clock_now)
        self.minutes = 0

    async def backfill(self) -> int:
        """Run the queued back-fills to their end (the worker's job in the service)."""
        return await self.backfiller.run_once()

    def envelope(self, data: models.EventData) -> Envelope:
        self.minutes += 1
        return new_envelope(data, source="urn:test", time=START + timedelta(minutes=self.minutes))

    async def apply(self, *envelopes: Envelope, offsets: list[int] | None = None) -> list[int]:
        taken = offsets or [next(OFFSETS) for _ in envelopes]
        await self.projection.apply(
            [
                ConsumedEvent(e, "credreg.credentials", 0, o)
                for e, o in zip(envelopes, taken, strict=True)
            ]
        )
        return taken

    def completed(self, holder: str = HOLDER) -> list[Envelope]:
        """The completions of `holder` on the log (the seeded learners' are left out)."""
        found = []
        for record in self.publisher.on(TOPIC):
            envelope = from_record(record.key, record.value, list(record.headers))
            if envelope.type == models.PathwayCompleted.event_type:
                if envelope.data_as(models.PathwayCompleted).holder_id == holder:
                    found.append(envelope)
        return found

    def completions(self, holder: str = HOLDER) -> list[models.PathwayCompleted]:
        return [e.data_as(models.PathwayCompleted) for e in self.completed(holder)]

    def completion_ids(self, holder: str = HOLDER) -> list[str]:
        return [e.id for e in self.completed(holder)]


def issued(
    credential_id: str, achievement: str, holder: str = HOLDER, issuer: str = ISSUER
) -> models.CredentialIssued:
    return samples.credential_issued(credential_id, holder).model_copy(
        update={"achievement_id": achievement, "issuer_id": issuer}
    )


def lifecycle(
    kind: type[models.CredentialEvent], credential_id: str, **extra: object
) -> models.CredentialEvent:
    return kind.model_validate(
        {"credential_id": credential_id, "issuer_id": ISSUER, "holder_id": HOLDER, **extra}
    )


def credential(n: int, holder: str = HOLDER) -> str:
    return f"urn:uuid:{holder[-4:].encode().hex()[:8]}-0000-4000-8000-{n:012d}"


def four_of_four(**changes: object) -> PathwayRequest:
    return PathwayRequest.model_validate(
        {"name": "Data Analyst", "achievement_ids": ACHIEVEMENTS, **changes}
    )


async def seed_achievements(world: World) -> None:
    """Every achievement issued once, each to another learner (none of whom completes anything
    but a pathway of one), so that a definition may name them."""
    await world.apply(
        *[
            world.envelope(issued(credential(n, f"did:example:seed{n}"), a, f"did:example:seed{n}"))
            for n, a in enumerate(ACHIEVEMENTS)
        ]
    )


async def test_progress_counts_active_components_and_completes_once() -> None:
    world = World()
    await seed_achievements(world)
    await world.pathways.define("data-analyst", four_of_four(), institution=ISSUER)
    for n in range(3):
        await world.apply(world.envelope(issued(credential(n), ACHIEVEMENTS[n])))
    [progress] = await world.pathways.progress(HOLDER)
    assert (progress.held, progress.required, progress.summary) == (3, 4, "3 of 4")
    assert not progress.completed
    assert world.completions() == []

    last = world.envelope(issued(credential(3), ACHIEVEMENTS[3]))
    offsets = await world.apply(last)
    [completed] = world.completions()
    assert completed.holder_id == HOLDER
    assert completed.pathway_id == "data-analyst"
    assert sorted(completed.credential_ids) == sorted(credential(n) for n in range(4))
    assert world.completion_ids() == [completion_event_id(HOLDER, "data-analyst")]

    # Redelivered (the same offset), and again after more events: nothing new on the log.
    await world.apply(last, offsets=offsets)
    await world.apply(world.envelope(lifecycle(models.CredentialSuspended, credential(0))))
    assert len(world.completions()) == 1
    [progress] = await world.pathways.progress(HOLDER)
    assert progress.completed and progress.summary == "completed"
    assert await world.store.find_many(OUTBOX, [json.dumps([HOLDER, "data-analyst"])]) == []


async def test_a_suspended_revoked_or_expired_component_does_not_count() -> None:
    world = World()
    await seed_achievements(world)
    await world.pathways.define("p", four_of_four(required=2), institution=ISSUER)
    await world.apply(world.envelope(issued(credential(0), ACHIEVEMENTS[0])))
    await world.apply(world.envelope(issued(credential(1), ACHIEVEMENTS[1])))
    assert len(world.completions()) == 1

    other = World()
    await seed_achievements(other)
    await other.pathways.define("p", four_of_four(required=2), institution=ISSUER)
    await other.apply(
        other.envelope(issued(credential(0), ACHIEVEMENTS[0])),
        other.envelope(lifecycle(models.CredentialSuspended, credential(0))),
        other.envelope(issued(credential(1), ACHIEVEMENTS[1])),
        other.envelope(lifecycle(models.CredentialRevoked, credential(1), reason="fraud")),
        other.envelope(issued(credential(2), ACHIEVEMENTS[2])),
        other.envelope(
            lifecycle(models.CredentialExpired, credential(2), valid_until=samples.VALID_UNTIL)
        ),
    )
    [progress] = await other.pathways.progress(HOLDER)
    assert progress.summary == "0 of 2"
    assert other.completions() == []
    # Reinstated: the suspended one counts again, and one more completes it.
    await other.apply(other.envelope(lifecycle(models.CredentialReinstated, credential(0))))
    assert (await other.pathways.progress(HOLDER))[0].summary == "1 of 2"
    await other.apply(other.envelope(issued(credential(3), ACHIEVEMENTS[3])))
    [completed] = other.completions()
    assert sorted(completed.credential_ids) == [credential(0), credential(3)]


async def test_two_credentials_of_one_achievement_count_once() -> None:
    world = World()
    await seed_achievements(world)
    await world.pathways.define("p", four_of_four(), institution=ISSUER)
    await world.apply(
        world.envelope(issued(credential(0), ACHIEVEMENTS[0])),
        world.envelope(issued(credential(1), ACHIEVEMENTS[0])),
        world.envelope(issued(credential(2), ACHIEVEMENTS[1])),
    )
    [progress] = await world.pathways.progress(HOLDER)
    assert progress.summary == "2 of 4"


async def test_a_definition_completes_it_for_holders_who_hold_it_already() -> None:
    world = World()
    await world.apply(
        *[world.envelope(issued(credential(n), a)) for n, a in enumerate(ACHIEVEMENTS)]
    )
    assert world.completions() == []
    award = {"achievement": {"name": "Data Analyst", "competencies": [{"name": "Analyse"}]}}
    answered = await world.pathways.define("p", four_of_four(award=award), institution=ISSUER)
    # Answered before anyone was looked at: the back-fill runs in the background.
    assert answered.backfill is not None and answered.backfill.state == "pending"
    assert world.completions() == []
    assert await world.backfill() == 4  # one page per achievement's list
    [completed] = world.completions()
    assert completed.award == award
    kept = await world.pathways.get("p", institution=ISSUER)
    assert kept.backfill is not None
    assert (kept.backfill.state, kept.backfill.holders_seen, kept.backfill.credentials_seen) == (
        "done",
        4,
        4,
    )
    # The same definition again: announced again (the same event id), completed once; its
    # back-fill is done and stays so (nothing queued).
    again = await world.pathways.define("p", four_of_four(award=award), institution=ISSUER)
    assert again.backfill == kept.backfill
    assert await world.backfill() == 0
    assert len(world.completions()) == 1
    defined = [
        from_record(r.key, r.value, list(r.headers))
        for r in world.publisher.on(TOPIC)
        if dict(r.headers)["ce_type"] == models.PathwayDefined.event_type.encode()
    ]
    assert len({e.id for e in defined}) == 1 and len(defined) == 2
    data = defined[0].data_as(models.PathwayDefined)
    assert data.required_count == 4 and data.award == award


async def test_a_second_replica_racing_the_first_publishes_nothing_more() -> None:
    first = World()
    await seed_achievements(first)
    await first.pathways.define("p", four_of_four(required=1), institution=ISSUER)
    second = World(view=first.view, store=first.store)  # another process, the same databases
    envelope = first.envelope(issued(credential(0), ACHIEVEMENTS[0]))
    offsets = await first.apply(envelope)
    await second.apply(envelope, offsets=offsets)  # a rebalance hands it the same batch
    assert len(first.completions()) == 1
    assert second.completions() == []


async def test_a_failed_publish_leaves_the_claim_in_the_outbox_for_the_relay() -> None:
    world = World()
    await seed_achievements(world)
    await world.pathways.define("p", four_of_four(required=1), institution=ISSUER)
    world.publisher.fail_with = PublishUnavailable("broker down")
    envelope = world.envelope(issued(credential(0), ACHIEVEMENTS[0]))
    with pytest.raises(PublishUnavailable):
        offsets = await world.apply(envelope, offsets=[next(OFFSETS)])
    key = json.dumps([HOLDER, "p"])
    assert await world.store.find_one(OUTBOX, key) is not None
    # The batch is retried while the broker is down: the claim stays, nothing more is made.
    world.publisher.fail_with = None
    offsets = [next(OFFSETS)]
    await world.apply(envelope, offsets=offsets)
    assert world.completions() == []  # the claim was made: the relay publishes it
    # Not before its grace period (a request may still be publishing it).
    assert (
        await world.tracker.relay_once(grace=timedelta(seconds=30), stale=timedelta(minutes=5)) == 0
    )
    world.clock_now = START + timedelta(minutes=1)
    assert (
        await world.tracker.relay_once(grace=timedelta(seconds=30), stale=timedelta(minutes=5)) == 1
    )
    assert world.completion_ids() == [completion_event_id(HOLDER, "p")]
    assert await world.store.find_one(OUTBOX, key) is None
    claim = await world.store.find_one(COMPLETIONS, key)
    assert claim is not None and claim["published"] is True
    world.clock_now = START + timedelta(minutes=10)
    assert (
        await world.tracker.relay_once(grace=timedelta(seconds=30), stale=timedelta(minutes=5)) == 0
    )
    assert len(world.completions()) == 1


async def test_a_marker_without_a_claim_is_dropped_once_stale() -> None:
    world = World()
    await world.store.mark_pending("orphan", at=START)
    world.clock_now = START + timedelta(minutes=1)
    assert (
        await world.tracker.relay_once(grace=timedelta(seconds=30), stale=timedelta(minutes=5)) == 0
    )
    assert await world.store.find_one(OUTBOX, "orphan") is not None
    world.clock_now = START + timedelta(minutes=6)
    await world.tracker.relay_once(grace=timedelta(seconds=30), stale=timedelta(minutes=5))
    assert await world.store.find_one(OUTBOX, "orphan") is None
    assert world.completions() == []


async def test_a_component_revoked_after_completion_is_shown_and_nothing_else_moves() -> None:
    world = World()
    await seed_achievements(world)
    await world.pathways.define("p", four_of_four(), institution=ISSUER)
    await world.apply(
        *[world.envelope(issued(credential(n), a)) for n, a in enumerate(ACHIEVEMENTS)]
    )
    assert len(world.completions()) == 1
    await world.apply(
        world.envelope(lifecycle(models.CredentialRevoked, credential(2), reason="out of date"))
    )
    [progress] = await world.pathways.progress(HOLDER)
    assert progress.completed
    assert progress.summary == "completed; a component was revoked since"
    assert progress.revoked_since_completion == [credential(2)]
    assert progress.held == 3
    assert len(world.completions()) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"achievement_ids": []}, "achievement_ids"),
        ({"required": 5}, "required"),
        ({"required": 0}, "required"),
        ({"achievement_ids": [*ACHIEVEMENTS[:3], "urn:uuid:never-issued"]}, "achievement_ids.3"),
        ({"award": {"achievement": {"name": ""}}}, "award.achievement"),
        ({"award": {"holder_id": "did:example:x", "achievement": {}}}, "award.holder_id"),
        (
            {
                "award": {
                    "achievement": {"name": "Data Analyst", "competencies": [{"name": "A"}]},
                    "valid_until": "2020-01-01T00:00:00Z",
                }
            },
            "award",
        ),
    ],
)
async def test_a_bad_definition_is_refused_and_kept_nowhere(
    changes: dict[str, object], field: str
) -> None:
    world = World()
    await seed_achievements(world)
    with pytest.raises(InvalidPathway) as refused:
        await world.pathways.define("p", four_of_four(**changes), institution=ISSUER)
    assert any(e.field.startswith(field) for e in refused.value.errors), refused.value.errors
    assert await world.store.find_one("pathways", "p") is None
    assert world.publisher.on(TOPIC) == []


async def test_another_institutions_achievement_is_unknown_and_its_pathway_not_yours() -> None:
    world = World()
    await seed_achievements(world)
    with pytest.raises(InvalidPathway):
        await world.pathways.define("p", four_of_four(), institution=OTHER_ISSUER)
    await world.pathways.define("p", four_of_four(), institution=ISSUER)
    await world.apply(world.envelope(issued(credential(9), "urn:uuid:theirs", issuer=OTHER_ISSUER)))
    request = PathwayRequest(name="Mine", achievement_ids=["urn:uuid:theirs"])
    with pytest.raises(NotYourPathway):
        await world.pathways.define("p", request, institution=OTHER_ISSUER)
    assert (await world.pathways.get("p", institution=ISSUER)).achievement_ids == ACHIEVEMENTS


async def test_an_institution_sees_only_its_own_pathways_of_a_holder() -> None:
    world = World()
    await seed_achievements(world)
    await world.pathways.define("p", four_of_four(), institution=ISSUER)
    await world.apply(world.envelope(issued(credential(0), ACHIEVEMENTS[0])))
    assert [p.summary for p in await world.pathways.progress(HOLDER, institution=ISSUER)] == [
        "1 of 4"
    ]
    assert await world.pathways.progress(HOLDER, institution=OTHER_ISSUER) == []
    assert await world.pathways.progress("did:example:nobody") == []


async def test_the_pathway_routes_answer_problems_and_progress() -> None:
    world = World()
    await seed_achievements(world)
    await world.apply(world.envelope(issued(credential(0), ACHIEVEMENTS[0])))
    settings = RegistrySettings(
        api_keys={"key-issuer": ISSUER}, holder_token_key=TOKEN_KEY.secret_multikey
    )
    adapters = Adapters(
        documents=world.view, store=world.view, pathways=world.store, publisher=world.publisher
    )
    app = build_app(settings, fakes=adapters)
    key = {"Authorization": "Bearer key-issuer"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        for body, field in (
            ({"name": "x", "achievement_ids": ["urn:uuid:never-issued"]}, "achievement_ids.0"),
            ({"name": "x", "achievement_ids": ACHIEVEMENTS[:2], "required": 3}, "required"),
            ({"name": "x", "achievement_ids": ACHIEVEMENTS[:2], "required": 0}, "required"),
            ({"name": "x", "achievement_ids": []}, "achievement_ids"),
        ):
            refused = await client.put("/v1/pathways/p-1", json=body, headers=key)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in refused.json()["errors"]] == [field]
        bad_id = await client.put(
            "/v1/pathways/bad%20id",
            json={"name": "x", "achievement_ids": ACHIEVEMENTS},
            headers=key,
        )
        assert bad_id.status_code == 422
        body = {"name": "Data Analyst", "achievement_ids": ACHIEVEMENTS, "required": 3}
        defined = await client.put("/v1/pathways/p-1", json=body, headers=key)
        assert defined.status_code == 200, defined.text
        assert defined.json()["required"] == 3
        assert defined.json()["backfill"]["state"] == "pending"
        await world.backfill()
        kept = await client.get("/v1/pathways/p-1", headers=key)
        assert kept.json()["backfill"]["state"] == "done"
        assert kept.json()["backfill"]["holders_seen"] == 5  # the holder and 4 seeded learners
        token = MINTER.mint(HOLDER, authenticated_by="did")[0]
        holder = {"Authorization": f"Bearer {token}"}
        as_holder = await client.put("/v1/pathways/p-1", json=body, headers=holder)
        assert as_holder.status_code == 403
        progress = await client.get(f"/v1/holders/{HOLDER}/pathways", headers=holder)
        assert [p["summary"] for p in progress.json()] == ["1 of 3"]
        page = await client.get(f"/v1/holders/{HOLDER}/credentials", headers=holder)
        assert [p["summary"] for p in page.json()["pathways"]] == ["1 of 3"]
        theirs = await client.get("/v1/holders/did:example:seed1/pathways", headers=holder)
        assert theirs.status_code == 403


async def test_one_batch_and_one_definition_complete_many_holders_each_once() -> None:
    world = World()
    holders = [f"did:example:learner-{n}" for n in range(5)]
    # Holders 0–2 hold both achievements before the definition; 3 and 4 get theirs after.
    await world.apply(
        *[
            world.envelope(issued(credential(n, h), a, h))
            for h in holders[:3]
            for n, a in enumerate(ACHIEVEMENTS[:2])
        ]
    )
    request = PathwayRequest(name="Two", achievement_ids=ACHIEVEMENTS[:2])
    await world.pathways.define("two", request, institution=ISSUER)
    await world.backfill()
    await world.apply(
        *[
            world.envelope(issued(credential(n, h), a, h))
            for h in holders[3:]
            for n, a in enumerate(ACHIEVEMENTS[:2])
        ]
    )
    for holder in holders:
        assert len(world.completions(holder)) == 1, holder
        [progress] = await world.pathways.progress(holder)
        assert progress.summary == "completed"


async def test_a_deleted_pathway_is_gone_for_readers_and_events_and_its_completion_stays() -> None:
    world = World()
    await seed_achievements(world)
    await world.pathways.define("p", four_of_four(required=2), institution=ISSUER)
    await world.apply(
        world.envelope(issued(credential(0), ACHIEVEMENTS[0])),
        world.envelope(issued(credential(1), ACHIEVEMENTS[1])),
    )
    other = "did:example:halfway"
    await world.apply(world.envelope(issued(credential(0, other), ACHIEVEMENTS[0], other)))
    assert [p.summary for p in await world.pathways.progress(other)] == ["1 of 2"]
    [completed] = world.completion_ids()

    await world.pathways.delete("p", institution=ISSUER)
    with pytest.raises(PathwayNotFound):
        await world.pathways.get("p", institution=ISSUER)
    assert await world.pathways.progress(HOLDER) == []
    assert await world.pathways.progress(other) == []
    # Unlisted from its achievements at once; the holders' lists are left to the readers.
    index = await world.store.find_many(PATHWAY_INDEX, [index_key(ISSUER, ACHIEVEMENTS[0])])
    assert [d["pathways"] for d in index] == [[]]
    started = await world.store.find_one(HOLDER_PATHWAYS, other)
    assert started is not None and "p" in started["pathways"]
    # A credential that would complete it now moves nothing.
    await world.apply(world.envelope(issued(credential(1, other), ACHIEVEMENTS[1], other)))
    assert world.completions(other) == []
    assert await world.pathways.progress(other) == []
    # The completion before it stays, published.
    claim = await world.store.find_one(COMPLETIONS, json.dumps([HOLDER, "p"]))
    assert claim is not None and claim["published"] is True
    assert world.completion_ids() == [completed]


async def test_only_the_owner_deletes_again_and_again_and_may_define_it_anew() -> None:
    world = World()
    await seed_achievements(world)
    with pytest.raises(PathwayNotFound):
        await world.pathways.delete("p", institution=ISSUER)
    await world.pathways.define("p", four_of_four(required=1), institution=ISSUER)
    with pytest.raises(PathwayNotFound):
        await world.pathways.delete("p", institution=OTHER_ISSUER)
    assert (await world.pathways.get("p", institution=ISSUER)).name == "Data Analyst"
    await world.pathways.delete("p", institution=ISSUER)
    await world.pathways.delete("p", institution=ISSUER)
    # The tombstone keeps the id its institution's.
    with pytest.raises(PathwayNotFound):
        await world.pathways.delete("p", institution=OTHER_ISSUER)
    with pytest.raises(NotYourPathway):
        await world.pathways.define("p", four_of_four(), institution=OTHER_ISSUER)
    # Defined anew (the same body): listed again, walked again, followed again.
    again = await world.pathways.define("p", four_of_four(required=1), institution=ISSUER)
    assert again.backfill is not None and again.backfill.state == "pending"
    await world.backfill()
    assert len(world.completions("did:example:seed0")) == 1
    await world.apply(world.envelope(issued(credential(0), ACHIEVEMENTS[2])))
    assert len(world.completions()) == 1


async def test_the_delete_route_answers_204_then_404_and_the_backfill_state() -> None:
    world = World()
    await seed_achievements(world)
    await world.apply(world.envelope(issued(credential(0), ACHIEVEMENTS[0])))
    settings = RegistrySettings(
        api_keys={"key-issuer": ISSUER, "key-other": OTHER_ISSUER},
        holder_token_key=TOKEN_KEY.secret_multikey,
    )
    adapters = Adapters(
        documents=world.view, store=world.view, pathways=world.store, publisher=world.publisher
    )
    app = build_app(settings, fakes=adapters)
    key, theirs = {"Authorization": "Bearer key-issuer"}, {"Authorization": "Bearer key-other"}
    holder = {"Authorization": f"Bearer {MINTER.mint(HOLDER, authenticated_by='did')[0]}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        body = {"name": "Data Analyst", "achievement_ids": ACHIEVEMENTS}
        assert (await client.put("/v1/pathways/p-1", json=body, headers=key)).status_code == 200
        pending = await client.get("/v1/pathways/p-1", headers=key)
        assert pending.json()["backfill"] == {
            "state": "pending",
            "holders_seen": 0,
            "credentials_seen": 0,
            "started_at": None,
            "finished_at": None,
        }
        await world.backfill()
        progress = await client.get(f"/v1/holders/{HOLDER}/pathways", headers=holder)
        assert [p["summary"] for p in progress.json()] == ["1 of 4"]

        for headers, status in ((theirs, 404), (holder, 403), ({}, 401)):
            refused = await client.delete("/v1/pathways/p-1", headers=headers)
            assert refused.status_code == status, refused.text
        assert (await client.get("/v1/pathways/p-1", headers=key)).status_code == 200
        unknown = await client.delete("/v1/pathways/nothing", headers=key)
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"

        for _ in range(2):
            deleted = await client.delete("/v1/pathways/p-1", headers=key)
            assert deleted.status_code == 204 and deleted.content == b""
        assert (await client.get("/v1/pathways/p-1", headers=key)).status_code == 404
        assert (await client.delete("/v1/pathways/p-1", headers=theirs)).status_code == 404
        progress = await client.get(f"/v1/holders/{HOLDER}/pathways", headers=holder)
        assert progress.json() == []
        page = await client.get(f"/v1/holders/{HOLDER}/credentials", headers=holder)
        assert page.json()["pathways"] == []
        schema = app.openapi()["components"]["schemas"]
        assert set(schema["Backfill"]["properties"]["state"]["enum"]) == {
            "pending",
            "running",
            "done",
        }
        assert "204" in app.openapi()["paths"]["/v1/pathways/{pathway_id}"]["delete"]["responses"]
