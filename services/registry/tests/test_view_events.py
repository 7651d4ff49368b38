"""The view's consumer parses ``credential.issued`` with the credential as text: same view."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

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


def _with(value: bytes | None, **changes: object) -> bytes:
    assert value is not None
    data = json.loads(value)
    data.update(changes)
    return json.dumps(data).encode()


def test_the_credential_text_is_the_records_own_bytes() -> None:
    _, key, value, headers = issued_record()
    assert value is not None
    credential = json.loads(value)["credential"]
    spaced = json.dumps(credential, indent=2, ensure_ascii=True)
    data = json.loads(value)
    del data["credential"]
    # Spacing and escapes the issuer never writes, kept as sent: still the same JSON.
    record = json.dumps(data).encode()[:-1] + b', "credential": ' + spaced.encode() + b"}"

    parsed = from_record(key, record, headers, models=VIEW_MODELS).data_as(IssuedForView)

    assert parsed.credential_json == spaced
    assert json.loads(parsed.credential_json) == credential


def test_a_credential_json_member_sent_by_a_producer_is_not_taken() -> None:
    _, key, value, headers = issued_record()
    assert value is not None
    forged = _with(value, credential_json='{"forged": true}')

    parsed = from_record(key, forged, headers, models=VIEW_MODELS).data_as(IssuedForView)

    assert json.loads(parsed.credential_json) == json.loads(value)["credential"]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(lambda value: value[:-1], id="truncated JSON"),
        pytest.param(lambda value: b"[" + value + b"]", id="not an object"),
        pytest.param(
            lambda value: value.replace(b'"credential": {', b'"credential": {"\xff": 1, ', 1),
            id="credential not UTF-8",
        ),
        pytest.param(lambda value: _with(value, holder_id=""), id="empty holder"),
        pytest.param(
            lambda value: _with(value, valid_until="2000-01-01T00:00:00Z"), id="until before from"
        ),
        pytest.param(lambda value: _with(value, competencies="none"), id="competencies not a list"),
    ],
)
def test_the_fast_path_refuses_what_the_contract_refuses(record: object) -> None:
    _, key, value, headers = issued_record()
    assert value is not None and callable(record)
    bad = record(json.dumps(json.loads(value)).encode())  # ", " and ": " between members

    for models_ in (VIEW_MODELS, None):
        with pytest.raises(InvalidEvent):
            if models_ is None:
                from_record(key, bad, headers)
            else:
                from_record(key, bad, headers, models=models_)


def test_an_event_built_from_python_data_keeps_its_credential_as_text() -> None:
    envelope, _, _, _ = issued_record()
    contract = envelope.data_as(models.CredentialIssued)

    built = IssuedForView.model_validate(contract.model_dump())

    assert json.loads(built.credential_json) == contract.credential


def _variants(value: bytes) -> list[bytes]:
    """The sample event with each field gone or of another kind, and other oddities."""
    data = json.loads(value)
    others: list[object] = ["", None, 0, 1.5, True, [], {}, "x", 1_700_000_000]
    found = []
    for name in [*data, "unknown_member"]:
        found.append(json.dumps({k: v for k, v in data.items() if k != name}))
        found += [json.dumps({**data, name: other}) for other in others]
    times = ["2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00+02:00", "2026-13-01T00:00Z"]
    found += [json.dumps({**data, "valid_from": t}) for t in times]
    found += [json.dumps({**data, "valid_until": t}) for t in times]
    competencies: list[object] = [
        [],
        [{"name": ""}],
        [{"url": "https://x.example/c"}],
        [{"name": "n", "unknown": 1, "code": None}],
        [{"name": "n"}, "not an object"],
    ]
    found += [json.dumps({**data, "competencies": c}) for c in competencies]
    text = json.dumps(data)
    found.append(text[:-1] + ', "holder_id": "did:example:twice"}')  # a member twice: the last
    found.append(text[:-1] + ', "credential": {"second": true}}')
    return [v.encode() for v in found]


def test_the_fast_path_parses_as_pydantic_parses_the_json_itself() -> None:
    _, _, value, _ = issued_record()
    assert value is not None
    assert IssuedForView._from_members(value) is not None  # the sample takes the fast path
    variants = _variants(value)
    fast = 0
    for variant in variants:
        try:
            expected: object = IssuedForView._validated_by_pydantic(variant)
        except ValidationError as error:
            expected = error.errors(include_url=False, include_input=False, include_context=False)
        try:
            got: object = IssuedForView.model_validate_json(variant)
        except ValidationError as error:
            got = error.errors(include_url=False, include_input=False, include_context=False)
        assert got == expected, variant
        fast += IssuedForView._from_members(variant) is not None
    assert 0 < fast < len(variants)  # both paths taken; every answer is pydantic's own


def test_no_field_of_the_contract_has_an_alias() -> None:
    # The fast path reads members by field name.
    assert [n for n, f in models.CredentialIssued.model_fields.items() if f.alias] == []
