"""The view's consumer parses ``credential.issued`` with the credential as text: same view."""

from __future__ import annotations

import json

import pytest

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.layout import BODIES, CREDENTIALS
from credreg_registry.projection import CredentialProjection
from credreg_registry.view_events import VIEW_MODELS, IssuedForView
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import (
    Envelope,
    InvalidEvent,
    from_record,
    new_envelope,
    to_record,
)
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.messaging.handlers import ConsumedEvent

CREDENTIAL = "urn:uuid:5c7a8e2e-1f0b-4c55-9a0e-3b1d6f2a9c40"


def issued_record() -> tuple[Envelope, bytes | None, bytes | None, list[tuple[str, bytes]]]:
    envelope = new_envelope(samples.credential_issued(CREDENTIAL), source="urn:test")
    record = to_record(envelope)
    return envelope, record.key, record.value, list(record.headers)


def test_the_credential_is_kept_as_the_text_of_the_same_json() -> None:
    envelope, key, value, headers = issued_record()

    parsed = from_record(key, value, headers, models=VIEW_MODELS)

    data = parsed.data_as(IssuedForView)
    assert json.loads(data.credential_json) == envelope.data_as(models.CredentialIssued).credential
    assert data.credential == {}
    # Everything else is the contract's model, field for field.
    contract = from_record(key, value, headers).data_as(models.CredentialIssued)
    assert data.model_dump(exclude={"credential"}) == {
        **contract.model_dump(exclude={"credential"}),
        "credential_json": data.credential_json,
    }


async def test_both_parses_build_the_same_view() -> None:
    _, key, value, headers = issued_record()
    views = []
    for parse in ({}, {"models": VIEW_MODELS}):
        view = InMemoryView()
        registry = CredentialProjection(view).register(HandlerRegistry())
        assert registry.batch_handler is not None
        envelope = from_record(key, value, headers, **parse)
        await registry.batch_handler([ConsumedEvent(envelope, "t", 0, 0)])
        views.append(
            (await view.find_one(BODIES, CREDENTIAL), await view.find_one(CREDENTIALS, CREDENTIAL))
        )
    assert views[0] == views[1]
    assert views[0][0] is not None


@pytest.mark.parametrize("credential", ["missing", "a string", ["a", "list"]])
def test_an_issued_event_without_a_credential_object_is_refused(credential: object) -> None:
    _, key, value, headers = issued_record()
    assert value is not None
    data = json.loads(value)
    if credential == "missing":
        del data["credential"]
    else:
        data["credential"] = credential

    with pytest.raises(InvalidEvent):
        from_record(key, json.dumps(data).encode(), headers, models=VIEW_MODELS)
