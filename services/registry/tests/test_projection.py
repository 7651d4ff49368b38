"""The registry's projection over an in-memory view: once per event, lifecycle rules, order."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.layout import BODIES, COUNTERS, CREDENTIALS
from credreg_registry.projection import CredentialProjection
from credreg_registry.use_cases import RegistryQueries
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.messaging.handlers import ConsumedEvent
from credreg_shared.storage.ports import Document

CREDENTIAL = "urn:uuid:7d1e6a3c-5b0f-4f7e-9f61-1c2d3e4f5a6b"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = "credreg.credentials"


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

    def issued(self) -> Envelope:
        return self.next(samples.credential_issued(CREDENTIAL))

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


async def document(view: InMemoryView) -> Document:
    found = await view.find_one(CREDENTIALS, CREDENTIAL)
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
    expiring = log.lifecycle(models.CredentialExpiring, valid_until=samples.VALID_UNTIL)
    expired = log.lifecycle(models.CredentialExpired, valid_until=samples.VALID_UNTIL)
    await apply(view, issued, expiring)
    stored = await document(view)
    assert stored["status"] == "active"
    assert stored["expiring"] == {"valid_until": samples.VALID_UNTIL, "noticed_at": expiring.time}
    await apply(view, expired)
    stored = await document(view)
    assert stored["status"] == "expired"
    assert stored["expired_at"] == expired.time
    assert stored["updated_at"] == expired.time


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
