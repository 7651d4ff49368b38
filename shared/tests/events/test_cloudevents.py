"""The CloudEvents Kafka binary-mode codec: round trips and every rejection reason."""

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from credreg_shared.events import topics
from credreg_shared.events.cloudevents import (
    Envelope,
    InvalidEvent,
    InvalidEventReason,
    KafkaRecord,
    derived_envelope,
    derived_event_id,
    format_time,
    from_record,
    new_envelope,
    to_record,
    uuid5_text,
)
from credreg_shared.events.models import (
    CredentialIssued,
    CredentialRevoked,
    EventData,
    PathwayCompleted,
)
from credreg_shared.events.samples import (
    SAMPLE_HOLDER,
    SAMPLE_SOURCE,
    credential_issued,
    every_event_kind,
    sample_envelope,
)

R = InvalidEventReason


def decode(record: KafkaRecord) -> Envelope:
    return from_record(record.key, record.value, record.headers)


def with_header(record: KafkaRecord, name: str, value: bytes | None) -> KafkaRecord:
    """The record with header `name` replaced (or removed when `value` is None)."""
    headers = [(n, v) for n, v in record.headers if n != name]
    if value is not None:
        headers.append((name, value))
    return KafkaRecord(record.key, record.value, headers)


def rejection(record: KafkaRecord) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        decode(record)
    return caught.value


@pytest.mark.parametrize("data", every_event_kind(), ids=lambda d: type(d).__name__)
def test_every_event_kind_round_trips(data: EventData) -> None:
    envelope = sample_envelope(data)

    decoded = decode(to_record(envelope))

    assert decoded == envelope
    assert type(decoded.data) is type(data)
    assert decoded.type == data.event_type


def test_record_uses_binary_mode_headers_and_the_credential_id_as_key() -> None:
    envelope = sample_envelope()
    record = to_record(envelope)
    headers = dict(record.headers)

    assert record.key == envelope.data_as(CredentialIssued).credential_id.encode()
    assert headers == {
        "ce_specversion": b"1.0",
        "ce_id": envelope.id.encode(),
        "ce_source": SAMPLE_SOURCE.encode(),
        "ce_type": b"org.credreg.credential.issued.v1",
        "ce_time": format_time(envelope.time).encode(),
        "ce_subject": envelope.subject.encode(),
        "content-type": b"application/json",
    }
    assert json.loads(record.value)["credential_id"] == envelope.subject
    assert len(record.headers) == len(headers), "no header may appear twice"


def test_pathway_completion_is_keyed_by_holder() -> None:
    completed = next(d for d in every_event_kind() if isinstance(d, PathwayCompleted))
    record = to_record(sample_envelope(completed))

    assert record.key == SAMPLE_HOLDER.encode()
    assert dict(record.headers)["ce_subject"] == completed.pathway_id.encode()
    assert decode(record).data == completed


def test_time_is_rfc3339_with_z_for_utc_and_keeps_other_offsets() -> None:
    assert format_time(datetime(2026, 3, 1, 12, 30, tzinfo=UTC)) == "2026-03-01T12:30:00Z"
    plus_two = timezone(timedelta(hours=2))
    envelope = new_envelope(
        credential_issued(),
        source=SAMPLE_SOURCE,
        time=datetime(2026, 3, 1, 14, 30, tzinfo=plus_two),
    )
    record = to_record(envelope)
    assert dict(record.headers)["ce_time"] == b"2026-03-01T14:30:00+02:00"
    assert decode(record).time == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_lower_case_t_and_z_and_nanoseconds_are_accepted() -> None:
    record = with_header(to_record(sample_envelope()), "ce_time", b"2026-03-01t12:30:00.123456789z")
    assert decode(record).time == datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)


def test_json_charset_parameter_and_unknown_data_fields_are_tolerated() -> None:
    record = to_record(sample_envelope())
    value = json.loads(record.value) | {"added_in_a_later_minor_change": 1}
    tolerant = KafkaRecord(record.key, json.dumps(value).encode(), record.headers)
    tolerant = with_header(tolerant, "content-type", b"application/json; charset=utf-8")

    assert decode(tolerant).data == decode(record).data


@pytest.mark.parametrize("attribute", ["id", "source", "type", "time", "subject"])
def test_missing_required_attribute_is_rejected(attribute: str) -> None:
    error = rejection(with_header(to_record(sample_envelope()), f"ce_{attribute}", None))
    assert error.reason is R.MISSING_ATTRIBUTE
    assert f"ce_{attribute}" in str(error)


def test_missing_specversion_is_rejected() -> None:
    error = rejection(with_header(to_record(sample_envelope()), "ce_specversion", None))
    assert error.reason is R.MISSING_ATTRIBUTE


def test_other_specversion_is_rejected() -> None:
    error = rejection(with_header(to_record(sample_envelope()), "ce_specversion", b"0.3"))
    assert error.reason is R.UNSUPPORTED_SPECVERSION


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("ce_id", b"not-a-uuid"),
        ("ce_source", b"has spaces in it"),
        ("ce_source", b"bad%zzescape"),
        ("ce_time", b"yesterday"),
        ("ce_time", b"2026-03-01"),
        ("ce_time", b"2026-03-01T12:30:00"),
        ("ce_time", b"2026-13-01T12:30:00Z"),
        ("ce_subject", b""),
        ("ce_subject", b"urn:uuid:1\nx"),
        ("ce_id", b"\xff\xfe"),
    ],
)
def test_malformed_attribute_is_rejected(header: str, value: bytes) -> None:
    error = rejection(with_header(to_record(sample_envelope()), header, value))
    assert error.reason is R.MALFORMED_ATTRIBUTE


def test_subject_that_is_not_the_datas_subject_is_rejected() -> None:
    record = with_header(to_record(sample_envelope()), "ce_subject", b"urn:uuid:someone-else")
    error = rejection(record)
    assert error.reason is R.MALFORMED_ATTRIBUTE
    assert "subject" in error.detail


def test_duplicate_attribute_header_is_rejected() -> None:
    record = to_record(sample_envelope())
    twice = KafkaRecord(record.key, record.value, [*record.headers, ("ce_id", b"x")])
    assert rejection(twice).reason is R.MALFORMED_ATTRIBUTE


@pytest.mark.parametrize("content_type", [None, b"text/plain", b"application/cloudevents+json"])
def test_content_type_other_than_json_is_rejected(content_type: bytes | None) -> None:
    error = rejection(with_header(to_record(sample_envelope()), "content-type", content_type))
    expected = R.MISSING_ATTRIBUTE if content_type is None else R.UNSUPPORTED_CONTENT_TYPE
    assert error.reason is expected


def test_unknown_type_is_rejected() -> None:
    record = with_header(
        to_record(sample_envelope()), "ce_type", b"org.credreg.credential.issued.v9"
    )
    error = rejection(record)
    assert error.reason is R.UNKNOWN_TYPE
    assert "issued.v9" in error.detail


def test_data_of_another_type_is_rejected() -> None:
    record = with_header(
        to_record(sample_envelope()), "ce_type", topics.CREDENTIAL_REVOKED_V1.encode()
    )
    error = rejection(record)
    assert error.reason is R.INVALID_DATA
    assert "reason" in error.detail


@pytest.mark.parametrize(
    "value", [None, b"", b"{not json", b"[1, 2]", b'"text"', b'{"credential_id": "x"}']
)
def test_value_that_is_not_the_models_json_is_rejected(value: bytes | None) -> None:
    record = to_record(sample_envelope())
    error = rejection(KafkaRecord(record.key, value, record.headers))  # type: ignore[arg-type]
    assert error.reason is R.INVALID_DATA


def test_invalid_data_detail_does_not_echo_values() -> None:
    record = to_record(sample_envelope())
    value = json.loads(record.value) | {"valid_from": "secret-student-number-123"}
    error = rejection(KafkaRecord(record.key, json.dumps(value).encode(), record.headers))
    assert error.reason is R.INVALID_DATA
    assert "secret-student-number-123" not in str(error)


@pytest.mark.parametrize("key", [None, b"urn:uuid:another-credential"])
def test_key_that_is_not_the_datas_record_key_is_rejected(key: bytes | None) -> None:
    record = to_record(sample_envelope())
    error = rejection(KafkaRecord(key, record.value, record.headers))  # type: ignore[arg-type]
    assert error.reason is R.KEY_MISMATCH


def test_envelope_refuses_naive_time_and_non_uuid_id() -> None:
    with pytest.raises(ValueError, match="timezone"):
        new_envelope(credential_issued(), source=SAMPLE_SOURCE, time=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="UUID"):
        new_envelope(credential_issued(), source=SAMPLE_SOURCE, event_id="42")


@pytest.mark.parametrize(
    "given",
    [
        "E00B4353-594F-5DF8-92C4-21AF160BC2BB",
        "urn:uuid:e00b4353-594f-5df8-92c4-21af160bc2bb",
        "{e00b4353-594f-5df8-92c4-21af160bc2bb}",
        "e00b4353594f5df892c421af160bc2bb",
        "e00b4353-594f-5df8-92c4-21af160bc2bb",
    ],
)
def test_an_envelope_id_is_kept_as_the_canonical_uuid_text(given: str) -> None:
    envelope = new_envelope(credential_issued(), source=SAMPLE_SOURCE, event_id=given)

    assert envelope.id == "e00b4353-594f-5df8-92c4-21af160bc2bb" == str(uuid.UUID(given))


def test_new_envelopes_get_fresh_uuid4_ids_and_aware_now() -> None:
    first, second = sample_envelope(), sample_envelope()
    assert first.id != second.id
    assert uuid.UUID(first.id).version == 4
    assert first.time.tzinfo is not None


def test_derived_ids_are_deterministic_per_entity_and_purpose() -> None:
    data = credential_issued()
    one = derived_envelope(data, source=SAMPLE_SOURCE, purpose="expired")
    again = derived_envelope(data, source=SAMPLE_SOURCE, purpose="expired")
    other_purpose = derived_envelope(data, source=SAMPLE_SOURCE, purpose="expiring")

    assert one.id == again.id == derived_event_id(data.credential_id, "expired")
    assert uuid.UUID(one.id).version == 5
    assert other_purpose.id != one.id
    assert derived_event_id("a", "b:c") != derived_event_id("a:b", "c")


@pytest.mark.parametrize(
    "name", ["", "issued", "urn:uuid:e00b4353-594f-5df8-92c4-21af160bc2bb", "é€😀\u0000", "x" * 300]
)
def test_uuid5_text_is_the_standard_uuid5(name: str) -> None:
    for namespace in (uuid.NAMESPACE_URL, uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)):
        assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))


def test_data_as_types_the_data_or_refuses() -> None:
    envelope = sample_envelope()
    assert envelope.data_as(CredentialIssued).achievement_name == "CPR and First Aid"
    with pytest.raises(TypeError):
        envelope.data_as(CredentialRevoked)


def test_envelope_is_frozen() -> None:
    envelope = sample_envelope()
    with pytest.raises(ValueError, match="frozen"):
        envelope.subject = "other"  # type: ignore[misc]


def test_codec_decodes_records_it_did_not_encode() -> None:
    """A hand-written record, as another CloudEvents producer would send it."""
    credential_id = "urn:uuid:5f4bb6b4-4d3e-4a55-9f43-3c4a2c1d0f11"
    data: dict[str, Any] = {
        "credential_id": credential_id,
        "issuer_id": "did:web:x",
        "holder_id": "did:key:y",
        "reason": "superseded",
        "superseded_by": "urn:uuid:0b0c1f5e-2a8e-4b43-8a6e-2f7b9f0d7c21",
    }
    envelope = from_record(
        credential_id.encode(),
        json.dumps(data).encode(),
        [
            ("ce_specversion", b"1.0"),
            ("ce_type", b"org.credreg.credential.revoked.v1"),
            ("ce_source", b"/revocation"),
            ("ce_id", b"A1B2C3D4-0000-4000-8000-000000000001"),
            ("ce_time", b"2018-04-05T17:31:00Z"),
            ("ce_subject", credential_id.encode()),
            ("content-type", b"application/json"),
            ("traceparent", b"00-abc-def-01"),
        ],
    )
    assert envelope.id == "a1b2c3d4-0000-4000-8000-000000000001", "ids are normalised"
    assert envelope.data_as(CredentialRevoked).superseded_by == data["superseded_by"]
    assert envelope.source == "/revocation"
