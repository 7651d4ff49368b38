"""The registry's projection over an in-memory view: once per event, lifecycle rules, order."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.domain import Caller as Caller
from credreg_registry.domain import CredentialNotFound
from credreg_registry.layout import BODIES, COUNTERS, CREDENTIALS, ViewChanges
from credreg_registry.projection import CredentialProjection, competencies_as_stored, fold
from credreg_registry.use_cases import RegistryQueries
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.messaging.handlers import ConsumedEvent
from credreg_shared.storage.ports import Document

CREDENTIAL = "urn:uuid:7d1e6a3c-5b0f-4f7e-9f61-1c2d3e4f5a6b"
REPLACEMENT = "urn:uuid:0b0c1f5e-2a8e-4b43-8a6e-2f7b9f0d7c21"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = "credreg.credentials"

AS_ISSUER = Caller(institution=samples.SAMPLE_ISSUER)
"""The issuer of every sample credential: it may read them all."""


OFFSETS: dict[str, int] = {}
"""Where each event sits in the log: a redelivered event comes again at the same offset."""


class Log:
    """Envelopes for one credential, one minute apart, each at its own offset of the log."""

    def __init__(self) -> None:
        self.minutes = 0

    def next(self, data: models.EventData) -> Envelope:
        self.minutes += 1
        time = START + timedelta(minutes=self.minutes)
        envelope = new_envelope(data, source="urn:test", time=time)
        OFFSETS[envelope.id] = len(OFFSETS)
        return envelope

    def issued(self, credential_id: str = CREDENTIAL) -> Envelope:
        return self.next(samples.credential_issued(credential_id))

    def superseding(self) -> Envelope:
        """The revocation of `CREDENTIAL` in favour of `REPLACEMENT`."""
        return self.lifecycle(
            models.CredentialRevoked,
            reason=models.REVOCATION_REASON_SUPERSEDED,
            superseded_by=REPLACEMENT,
        )

    def lifecycle(self, kind: type[models.CredentialEvent], **extra: object) -> Envelope:
        common = {
            "credential_id": CREDENTIAL,
            "issuer_id": samples.SAMPLE_ISSUER,
            "holder_id": samples.SAMPLE_HOLDER,
        }
        return self.next(kind.model_validate({**common, **extra}))


async def apply(view: InMemoryView, *envelopes: Envelope) -> None:
    """Dispatch like the consumer does: one batch through the registered batch handler."""
    registry = CredentialProjection(view).register(HandlerRegistry())
    assert registry.batch_handler is not None
    await registry.batch_handler([ConsumedEvent(e, TOPIC, 0, OFFSETS[e.id]) for e in envelopes])


async def body(view: InMemoryView) -> str:
    found = await view.find_one(BODIES, CREDENTIAL)
    assert found is not None
    return str(found["json"])


async def document(view: InMemoryView, credential_id: str = CREDENTIAL) -> Document:
    found = await view.find_one(CREDENTIALS, credential_id)
    assert found is not None
    return found


async def test_issued_enters_the_view_as_active_with_its_summary() -> None:
    view, log = InMemoryView(), Log()
    issued = log.issued()
    await apply(view, issued)
    stored = await document(view)
    assert stored["status"] == "active"
    assert stored["issued"] is True
    assert stored["holder_id"] == samples.SAMPLE_HOLDER
    assert stored["issuer_id"] == samples.SAMPLE_ISSUER
    assert stored["achievement"]["name"] == "CPR and First Aid"
    assert stored["achievement"]["type"] == "MicroCredential"
    assert stored["achievement"]["competencies"][0]["code"] == "FA-1"
    assert stored["valid_until"] == samples.VALID_UNTIL
    assert json.loads(await body(view))["id"] == CREDENTIAL
    assert stored["updated_at"] == issued.time
    assert stored["applied_events"] == [issued.id]


async def test_a_redelivered_event_changes_nothing() -> None:
    view, log = InMemoryView(), Log()
    issued, suspended = log.issued(), log.lifecycle(models.CredentialSuspended, reason="audit")
    reinstated = log.lifecycle(models.CredentialReinstated)
    await apply(view, issued, suspended, reinstated)
    before = copy.deepcopy(await document(view))
    # The suspension again, after its reinstatement: it must not suspend the credential anew.
    await apply(view, suspended, issued, reinstated)
    assert await document(view) == before
    assert before["status"] == "active"
    assert before["applied_events"] == [issued.id, suspended.id, reinstated.id]


async def test_replaying_the_log_into_an_empty_view_rebuilds_the_same_documents() -> None:
    log = Log()
    events = [
        log.issued(),
        log.lifecycle(models.CredentialExpiring, valid_until=samples.VALID_UNTIL),
        log.lifecycle(models.CredentialRevoked, reason="superseded", superseded_by="urn:x:2"),
    ]
    first, second = InMemoryView(), InMemoryView()
    await apply(first, *events)
    await apply(second, *events)
    assert first.collections == second.collections


async def test_suspension_is_lifted_by_reinstatement_but_revocation_is_final() -> None:
    view, log = InMemoryView(), Log()
    await apply(view, log.issued())
    suspended = log.lifecycle(models.CredentialSuspended, reason="under review")
    await apply(view, suspended)
    stored = await document(view)
    assert stored["status"] == "suspended"
    assert stored["suspension"] == {"reason": "under review", "suspended_at": suspended.time}

    reinstated = log.lifecycle(models.CredentialReinstated)
    await apply(view, reinstated)
    stored = await document(view)
    assert stored["status"] == "active"
    assert "suspension" not in stored
    assert stored["reinstated_at"] == reinstated.time

    revoked = log.lifecycle(models.CredentialRevoked, reason="fraud")
    await apply(view, revoked, log.lifecycle(models.CredentialReinstated))
    await apply(view, log.lifecycle(models.CredentialRevoked, reason="a second opinion"))
    stored = await document(view)
    assert stored["status"] == "revoked"
    assert stored["revocation"] == {
        "reason": "fraud",
        "superseded_by": None,
        "revoked_at": revoked.time,
    }


async def test_expired_and_expiring_are_recorded() -> None:
    view, log = InMemoryView(), Log()
    issued = log.issued()
    expiring = log.lifecycle(
        models.CredentialExpiring,
        valid_until=samples.VALID_UNTIL,
        lead_days=30,
        renewal=samples.RENEWAL,
    )
    expired = log.lifecycle(models.CredentialExpired, valid_until=samples.VALID_UNTIL)
    await apply(view, issued, expiring)
    stored = await document(view)
    assert stored["status"] == "active"
    assert stored["expiring"] == {
        "valid_until": samples.VALID_UNTIL,
        "noticed_at": expiring.time,
        "lead_days": 30,
        "renewal": {"url": samples.RENEWAL.url, "text": samples.RENEWAL.text},
    }
    await apply(view, expired)
    stored = await document(view)
    assert stored["status"] == "expired"
    assert stored["expired_at"] == expired.time
    assert stored["updated_at"] == expired.time
    assert stored["renewal"] is None
    assert stored["expiring"]["lead_days"] == 30  # kept: the view falls back on its renewal


async def test_a_later_expiring_notice_replaces_the_earlier_and_expiry_keeps_its_renewal() -> None:
    view, log = InMemoryView(), Log()
    other = models.Renewal(url="https://issuer.credreg.example/renew/other", text="Re-sit it.")
    issued = log.issued()
    notices = [
        log.lifecycle(models.CredentialExpiring, valid_until=samples.VALID_UNTIL, lead_days=days)
        for days in (60, 7)
    ]
    expired = log.lifecycle(
        models.CredentialExpired, valid_until=samples.VALID_UNTIL, renewal=other
    )
    await apply(view, issued, *notices)
    assert (await document(view))["expiring"]["lead_days"] == 7
    await apply(view, expired)
    assert (await document(view))["renewal"] == {"url": other.url, "text": other.text}


async def test_revocation_that_arrives_before_the_issuance_is_kept_when_it_follows() -> None:
    view, log = InMemoryView(), Log()
    issued = log.issued()
    revoked = log.lifecycle(models.CredentialRevoked, reason="superseded")
    await apply(view, revoked)
    placeholder = await document(view)
    assert placeholder["status"] == "revoked"
    assert "issued" not in placeholder
    assert "credential" not in placeholder and await view.find_one(BODIES, CREDENTIAL) is None

    await apply(view, issued)
    stored = await document(view)
    assert stored["status"] == "revoked"
    assert stored["issued"] is True
    assert stored["revocation"]["reason"] == "superseded"
    assert json.loads(await body(view))["id"] == CREDENTIAL
    # The later of the two event times, whatever the order they were applied in.
    assert stored["updated_at"] == revoked.time


async def test_events_that_do_not_change_a_status_still_leave_a_placeholder_with_one() -> None:
    for early in (
        Log().lifecycle(models.CredentialReinstated),
        Log().lifecycle(models.CredentialExpiring, valid_until=samples.VALID_UNTIL),
    ):
        view = InMemoryView()
        await apply(view, early)
        assert (await document(view))["status"] == "active"
        await apply(view, Log().issued())
        stored = await document(view)
        assert stored["status"] == "active", early.type
        assert stored["issued"] is True


async def test_one_batch_or_many_small_ones_build_the_same_view() -> None:
    """Batch boundaries are invisible: the log in one batch, or three events at a time."""
    log = Log()
    events = [
        log.issued(),
        log.lifecycle(models.CredentialSuspended, reason="audit"),
        log.lifecycle(models.CredentialExpiring, valid_until=samples.VALID_UNTIL),
        log.lifecycle(models.CredentialReinstated),
        log.lifecycle(models.CredentialRevoked, reason="superseded"),
    ]
    whole, pieces = InMemoryView(), InMemoryView()
    await apply(whole, *events)
    for start in range(0, len(events), 2):
        await apply(pieces, *events[start : start + 2])
    # Counters may differ in fields left at 0; their sums are what the stats read.
    assert {k: v for k, v in whole.collections.items() if k != COUNTERS} == {
        k: v for k, v in pieces.collections.items() if k != COUNTERS
    }
    assert (
        await RegistryQueries(documents=whole).stats()
        == await RegistryQueries(documents=pieces).stats()
    )
    assert (await document(whole))["status"] == "revoked"


async def by_status(view: InMemoryView) -> tuple[dict[str, int], int]:
    """The stats' counts by status, and of placeholders."""
    stats = await RegistryQueries(documents=view).stats()
    return stats.by_status, stats.awaiting_issuance


ONE_ACTIVE_ONE_REVOKED = ({"active": 1, "suspended": 0, "expired": 0, "revoked": 1}, 0)


async def test_a_supersession_links_the_replacement_once_however_often_it_comes() -> None:
    view, log = InMemoryView(), Log()
    issued, replacement = log.issued(), log.issued(REPLACEMENT)
    revoked = log.superseding()
    await apply(view, issued, replacement)
    await apply(view, revoked)
    once = copy.deepcopy(view.collections)
    linked = await document(view, REPLACEMENT)
    assert linked["supersedes"] == [CREDENTIAL]
    assert linked["applied_events"] == [replacement.id, revoked.id]
    assert linked["updated_at"] == replacement.time  # the link is not the replacement's event
    assert (await document(view))["revocation"]["superseded_by"] == REPLACEMENT

    await apply(view, revoked)
    await apply(view, issued, replacement, revoked)
    assert view.collections == once
    assert await by_status(view) == ONE_ACTIVE_ONE_REVOKED


ORDERS = {
    "replacement first": [["issued"], ["replacement"], ["revoked"]],
    "revocation first": [["issued"], ["revoked"], ["replacement"]],
    "one batch, replacement first": [["issued", "replacement", "revoked"]],
    "one batch, revocation first": [["issued", "revoked", "replacement"]],
}


@pytest.mark.parametrize("batches", list(ORDERS.values()), ids=list(ORDERS))
async def test_the_replacement_and_the_revocation_link_in_any_order(
    batches: list[list[str]],
) -> None:
    view, log = InMemoryView(), Log()
    # Envelopes made in the order they are applied: offsets grow as in the log.
    make = {"issued": log.issued, "replacement": lambda: log.issued(REPLACEMENT)}
    make["revoked"] = log.superseding
    envelopes = {name: make[name]() for batch in batches for name in batch}
    for batch in batches:
        await apply(view, *(envelopes[name] for name in batch))

    linked = await document(view, REPLACEMENT)
    assert (linked["status"], linked["issued"], linked["supersedes"]) == (
        "active",
        True,
        [CREDENTIAL],
    )
    assert sorted(linked["applied_events"]) == sorted(
        [envelopes["replacement"].id, envelopes["revoked"].id]
    )
    assert await by_status(view) == ONE_ACTIVE_ONE_REVOKED
    shown = await RegistryQueries(documents=view).credential(REPLACEMENT, AS_ISSUER)
    assert shown.supersedes == [CREDENTIAL]
    page = await RegistryQueries(documents=view).portfolio(
        samples.SAMPLE_HOLDER, Caller(holder_id=samples.SAMPLE_HOLDER)
    )
    assert sorted(line.id for line in page.credentials) == sorted([CREDENTIAL, REPLACEMENT])


async def test_a_replacement_not_in_the_view_yet_waits_as_an_uncounted_placeholder() -> None:
    view, log = InMemoryView(), Log()
    await apply(view, log.issued())
    await apply(view, log.superseding())
    placeholder = await document(view, REPLACEMENT)
    assert placeholder["supersedes"] == [CREDENTIAL]
    assert (placeholder["holder_id"], placeholder["issuer_id"]) == (
        samples.SAMPLE_HOLDER,
        samples.SAMPLE_ISSUER,
    )
    assert "issued" not in placeholder and "status" not in placeholder
    with pytest.raises(CredentialNotFound):
        await RegistryQueries(documents=view).credential(REPLACEMENT, AS_ISSUER)
    assert await by_status(view) == ({"active": 0, "suspended": 0, "expired": 0, "revoked": 1}, 0)

    replacement = log.issued(REPLACEMENT)
    await apply(view, replacement)
    completed = await document(view, REPLACEMENT)
    assert (completed["issued"], completed["status"], completed["supersedes"]) == (
        True,
        "active",
        [CREDENTIAL],
    )
    assert completed["updated_at"] == replacement.time
    assert await by_status(view) == ONE_ACTIVE_ONE_REVOKED


async def test_a_link_lost_to_a_crash_is_written_by_the_redelivery() -> None:
    """The revoked credential's update landed, the replacement's did not: the redelivery links."""
    view, log = InMemoryView(), Log()
    await apply(view, log.issued(), log.issued(REPLACEMENT))
    revoked = log.superseding()
    batch = [ConsumedEvent(revoked, TOPIC, 0, OFFSETS[revoked.id])]
    snapshot = await view.snapshot(
        credential_ids=[CREDENTIAL, REPLACEMENT], lists=[], counter_ids=[f"{TOPIC}:0"]
    )
    changes = fold(snapshot, batch)
    assert {c.document["_id"] for c in changes.credentials} == {CREDENTIAL, REPLACEMENT}
    await view.save(
        ViewChanges(
            counters=changes.counters,
            credentials=[c for c in changes.credentials if c.document["_id"] == CREDENTIAL],
        )
    )
    assert "supersedes" not in await document(view, REPLACEMENT)

    await apply(view, revoked)
    assert (await document(view, REPLACEMENT))["supersedes"] == [CREDENTIAL]
    assert await by_status(view) == ONE_ACTIVE_ONE_REVOKED


async def test_a_revocation_that_does_not_take_links_nothing() -> None:
    """Revoked already for another reason: the credential names no replacement, nor is named."""
    view, log = InMemoryView(), Log()
    await apply(view, log.issued(), log.issued(REPLACEMENT))
    await apply(view, log.lifecycle(models.CredentialRevoked, reason="fraud"))
    await apply(view, log.superseding())
    assert (await document(view))["revocation"]["superseded_by"] is None
    assert "supersedes" not in await document(view, REPLACEMENT)


async def test_a_link_writes_only_its_additions_to_the_replacement() -> None:
    """Not its line, state or time: its own partition's consumer may be writing those at once."""
    view, log = InMemoryView(), Log()
    await apply(view, log.issued(), log.issued(REPLACEMENT))
    revoked = log.superseding()
    snapshot = await view.snapshot(
        credential_ids=[CREDENTIAL, REPLACEMENT], lists=[], counter_ids=[f"{TOPIC}:0"]
    )
    changes = fold(snapshot, [ConsumedEvent(revoked, TOPIC, 0, OFFSETS[revoked.id])])
    (linked,) = [c for c in changes.credentials if c.document["_id"] == REPLACEMENT]
    assert linked.update() == {
        "$addToSet": {
            "applied_events": {"$each": [revoked.id]},
            "supersedes": {"$each": [CREDENTIAL]},
        }
    }
    assert set(changes.lines) == {CREDENTIAL}
    assert [c.deltas for c in changes.counters] == [{"issued_active": -1, "issued_revoked": 1}]


@pytest.mark.parametrize("together", [False, True], ids=["two batches", "one batch"])
async def test_a_revocation_sent_twice_lists_the_revoked_credential_once(together: bool) -> None:
    """Two events (two ids) that both name the replacement: one entry in `supersedes`."""
    view, log = InMemoryView(), Log()
    await apply(view, log.issued())
    first, second = log.superseding(), log.superseding()
    for batch in [[first, second]] if together else [[first], [second]]:
        await apply(view, *batch)
    await apply(view, log.issued(REPLACEMENT))
    linked = await document(view, REPLACEMENT)
    assert linked["supersedes"] == [CREDENTIAL]
    assert linked["applied_events"][:2] == [first.id, second.id]


def test_competencies_are_stored_as_pydantic_dumps_them_without_nones() -> None:
    competencies = (
        models.Competency(name="Adult CPR"),
        models.Competency(name="AED", url="https://x.example/aed", framework=None, code="C2"),
        models.Competency(name="Triage", url="u", framework="f", code="c"),
    )

    stored = competencies_as_stored(competencies)

    assert stored == list(
        TypeAdapter(tuple[models.Competency, ...]).dump_python(competencies, exclude_none=True)
    )
    assert stored[0] == {"name": "Adult CPR"}
    stored[0]["name"] = "changed"  # each call gives new dicts
    assert competencies_as_stored(competencies)[0] == {"name": "Adult CPR"}
