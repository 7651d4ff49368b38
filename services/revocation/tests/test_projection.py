"""The ownership projection over the in-memory view: each event applied once, in any order of
delivery, and statuses that only move as the shared lifecycle allows."""

from __future__ import annotations

import pytest

from credreg_revocation.adapters.fakes import InMemoryCredentialRepository
from credreg_revocation.projection import OwnershipProjection
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import HandlerRegistry

CREDENTIAL = "urn:uuid:6f1c2a64-0000-4000-8000-000000000001"
OWNER, HOLDER = samples.SAMPLE_ISSUER, samples.SAMPLE_HOLDER


class View:
    """The projection over the in-memory repository, fed as the consumer runner feeds it."""

    def __init__(self) -> None:
        self.credentials = InMemoryCredentialRepository()
        self.registry = OwnershipProjection(self.credentials).register(HandlerRegistry())

    async def deliver(self, envelope: Envelope) -> None:
        """Hand one event to its handlers, as the consumer runner does."""
        for handler in self.registry.handlers_for(envelope.event_type):
            await handler(envelope)

    async def issue(self) -> Envelope:
        envelope = new_envelope(samples.credential_issued(CREDENTIAL, HOLDER), source="urn:i")
        await self.deliver(envelope)
        return envelope


def lifecycle(kind: type[models.CredentialEvent], **extra: object) -> Envelope:
    data = kind.model_validate(
        {"credential_id": CREDENTIAL, "issuer_id": OWNER, "holder_id": HOLDER, **extra}
    )
    return new_envelope(data, source="urn:elsewhere")


@pytest.fixture
def view() -> View:
    return View()


def test_the_table_handles_issuance_and_every_status_event(view: View) -> None:
    assert view.registry.event_types == {
        kind.event_type
        for kind in (
            models.CredentialIssued,
            models.CredentialRevoked,
            models.CredentialSuspended,
            models.CredentialReinstated,
            models.CredentialExpired,
            models.CredentialExpiring,
        )
    }


async def test_the_projection_applies_each_event_once_in_lifecycle_order(view: View) -> None:
    issued = await view.issue()
    assert view.credentials.status_of(CREDENTIAL) == "active"
    suspended = lifecycle(models.CredentialSuspended, reason="audit")
    revoked = lifecycle(models.CredentialRevoked, reason="fraud")
    for envelope in (suspended, suspended, revoked, issued, suspended):
        await view.deliver(envelope)
    assert view.credentials.status_of(CREDENTIAL) == "revoked"
    await view.deliver(lifecycle(models.CredentialReinstated))
    assert view.credentials.status_of(CREDENTIAL) == "revoked", "revoked stays revoked"


async def test_a_reinstatement_redelivered_after_a_new_suspension_is_a_no_op(view: View) -> None:
    await view.issue()
    await view.deliver(lifecycle(models.CredentialSuspended))
    reinstated = lifecycle(models.CredentialReinstated)
    await view.deliver(reinstated)
    await view.deliver(lifecycle(models.CredentialSuspended))
    await view.deliver(reinstated)
    assert view.credentials.status_of(CREDENTIAL) == "suspended"


async def test_an_expiring_notice_changes_no_status_but_is_not_announced_again(view: View) -> None:
    await view.issue()
    notice = lifecycle(models.CredentialExpiring, valid_until=samples.VALID_UNTIL, lead_days=30)
    await view.deliver(notice)
    record = await view.credentials.get(CREDENTIAL)
    assert record is not None
    assert record.status == "active"
    assert record.announced == {"expiring:30"}
