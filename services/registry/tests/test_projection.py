"""The registry's projection over an in-memory view: once per event, lifecycle rules, order."""

from credreg_registry.projection import CredentialProjection
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.storage.fakes import InMemoryIdempotentCollection

CREDENTIAL = "urn:uuid:7d1e6a3c-5b0f-4f7e-9f61-1c2d3e4f5a6b"


def envelope(data: models.EventData) -> Envelope:
    return new_envelope(data, source="urn:test")


def lifecycle(kind: type[models.CredentialEvent], **extra: str) -> Envelope:
    return envelope(
        kind(
            credential_id=CREDENTIAL,
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=samples.SAMPLE_HOLDER,
            **extra,
        )
    )


async def apply(projection: CredentialProjection, *envelopes: Envelope) -> None:
    registry = projection.register(HandlerRegistry())
    for each in envelopes:
        for handler in registry.handlers_for(each.type):
            await handler(each)


async def test_issued_enters_the_view_as_active_once_even_when_redelivered() -> None:
    view = InMemoryIdempotentCollection()
    issued = envelope(samples.credential_issued(CREDENTIAL))
    await apply(CredentialProjection(view), issued, issued)
    document = await view.get(CREDENTIAL)
    assert document is not None
    assert document["status"] == "active"
    assert document["holder_id"] == samples.SAMPLE_HOLDER
    assert document["applied_events"] == [issued.id]
    assert document["achievement"]["name"] == "CPR and First Aid"


async def test_revocation_that_arrives_first_is_kept_when_the_issuance_follows() -> None:
    view = InMemoryIdempotentCollection()
    revoked = lifecycle(models.CredentialRevoked, reason="superseded")
    await apply(
        CredentialProjection(view), revoked, envelope(samples.credential_issued(CREDENTIAL))
    )
    document = await view.get(CREDENTIAL)
    assert document is not None
    assert document["status"] == "revoked"
    assert document["issued"] is True
    assert document["revocation"]["reason"] == "superseded"


async def test_suspension_is_lifted_by_reinstatement_but_revocation_is_final() -> None:
    view = InMemoryIdempotentCollection()
    projection = CredentialProjection(view)
    await apply(projection, envelope(samples.credential_issued(CREDENTIAL)))
    await apply(projection, lifecycle(models.CredentialSuspended))
    assert (await view.get(CREDENTIAL) or {})["status"] == "suspended"
    await apply(projection, lifecycle(models.CredentialReinstated))
    assert (await view.get(CREDENTIAL) or {})["status"] == "active"
    await apply(projection, lifecycle(models.CredentialRevoked, reason="fraud"))
    await apply(projection, lifecycle(models.CredentialReinstated))
    assert (await view.get(CREDENTIAL) or {})["status"] == "revoked"
