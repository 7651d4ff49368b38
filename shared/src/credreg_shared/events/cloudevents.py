"""CloudEvents 1.0 in Kafka binary content mode: the `Envelope` and its Kafka record codec.

A record's value is the JSON `data`; the context attributes travel as ``ce_*`` headers
(``ce_specversion``, ``ce_id``, ``ce_source``, ``ce_type``, ``ce_time``, ``ce_subject``) next to
``content-type: application/json``; the key is ``data.record_key()`` (credential id, or holder id
for pathway completions). `to_record` encodes, `from_record` decodes and refuses anything that is
not a valid credreg event with `InvalidEvent`. `source` + `id` is the consumers' dedupe key.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator
from pydantic import model_validator as _model_validator

from credreg_shared.events.models import EVENT_MODELS, EventData, NonEmptyStr
from credreg_shared.events.upcasters import UPCASTERS, Upcaster, upcast

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
HEADER_PREFIX = "ce_"
CONTENT_TYPE_HEADER = "content-type"
REQUIRED_ATTRIBUTES = ("id", "source", "type", "time", "subject")

EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://credreg.org/ns/event-id")
"""UUIDv5 namespace of derived (deterministic) event ids."""

D = TypeVar("D", bound=EventData)

# RFC 3986 URI-reference characters; percent signs must start a %XX escape.
_URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
# CloudEvents `String` forbids control characters (U+0000-U+001F, U+007F-U+009F).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A UUID as `uuid.UUID` writes it (lower case, hyphens), which an id is normalised to."""


class InvalidEventReason(StrEnum):
    """Why a Kafka record is not a valid credreg event."""

    MISSING_ATTRIBUTE = "missing_attribute"
    MALFORMED_ATTRIBUTE = "malformed_attribute"
    UNSUPPORTED_SPECVERSION = "unsupported_specversion"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_DATA = "invalid_data"
    KEY_MISMATCH = "key_mismatch"


class InvalidEvent(ValueError):
    """A Kafka record that is not a valid credreg CloudEvent; `reason` names the broken rule."""

    def __init__(self, reason: InvalidEventReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """The key, value and headers of one Kafka record, ready for a producer's ``send``."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class Envelope(BaseModel):
    """One CloudEvent: context attributes plus the typed `data`; ``type`` comes from the data."""

    model_config = ConfigDict(frozen=True)

    id: NonEmptyStr
    source: NonEmptyStr
    time: AwareDatetime
    subject: NonEmptyStr
    data: EventData

    @field_validator("id")
    @classmethod
    def _id_is_a_uuid(cls, value: str) -> str:
        if _CANONICAL_UUID.fullmatch(value):
            return value  # canonical already, as every id credreg writes: no UUID object needed
        try:
            return str(uuid.UUID(value))
        except ValueError as exc:
            raise ValueError(f"id must be a UUID, got {value!r}") from exc

    @field_validator("source")
    @classmethod
    def _source_is_a_uri_reference(cls, value: str) -> str:
        if not _URI_REFERENCE.match(value):
            raise ValueError(f"source must be a URI-reference, got {value!r}")
        return value

    @_model_validator(mode="after")
    def _subject_names_the_data(self) -> "Envelope":
        expected = self.data.event_subject()
        if self.subject != expected:
            raise ValueError(f"subject {self.subject!r} does not match the data's {expected!r}")
        return self

    def data_as(self, model: type[D]) -> D:
        """The data, typed as `model`; raises TypeError when this envelope carries another type."""
        if not isinstance(self.data, model):
            raise TypeError(f"{self.event_type} event does not carry {model.__name__} data")
        return self.data

    @property
    def event_type(self) -> str:
        """The CloudEvents ``type`` (the data model's versioned type string)."""
        return self.data.event_type

    @property
    def type(self) -> str:
        """The CloudEvents ``type``; same as `event_type`."""
        return self.data.event_type


def new_envelope(
    data: EventData,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Envelope:
    """An envelope for a new event: a fresh UUIDv4 id and the current time unless given."""
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source=source,
        time=time or datetime.now(UTC),
        subject=data.event_subject(),
        data=data,
    )


def derived_event_id(entity_id: str, purpose: str) -> str:
    """Deterministic event id (UUIDv5 of entity id + purpose): racing replicas emit one event."""
    return uuid5_text(EVENT_ID_NAMESPACE, json.dumps([entity_id, purpose]))


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`, in about half its time (no `UUID` object is built:
    every issued credential's event id is one)."""
    # As `uuid.uuid5` itself: SHA-1 names the id, it protects nothing.
    sha1 = hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False)
    digest = bytearray(sha1.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def derived_envelope(
    data: EventData, *, source: str, purpose: str, time: datetime | None = None
) -> Envelope:
    """An envelope whose id is derived from the data's subject and `purpose` (e.g. "expired")."""
    return new_envelope(
        data, source=source, event_id=derived_event_id(data.event_subject(), purpose), time=time
    )


def format_time(moment: datetime) -> str:
    """RFC 3339 text of an aware datetime, with ``Z`` for UTC."""
    if moment.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    text = moment.isoformat()
    return text[:-6] + "Z" if moment.utcoffset() == timedelta(0) else text


def parse_time(text: str) -> datetime:
    """An aware datetime from RFC 3339 text; raises ValueError for anything else."""
    if not _RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    return datetime.fromisoformat(text.upper())


def to_record(envelope: Envelope) -> KafkaRecord:
    """Encode an envelope as a binary-mode Kafka record keyed by ``data.record_key()``."""
    headers = [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", envelope.id.encode()),
        ("ce_source", envelope.source.encode()),
        ("ce_type", envelope.event_type.encode()),
        ("ce_time", format_time(envelope.time).encode()),
        ("ce_subject", envelope.subject.encode()),
        (CONTENT_TYPE_HEADER, CONTENT_TYPE.encode()),
    ]
    return KafkaRecord(
        key=envelope.data.record_key().encode(),
        value=envelope.data.model_dump_json().encode(),
        headers=headers,
    )


def from_record(
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
    *,
    models: Mapping[str, type[EventData]] = EVENT_MODELS,
    upcasters: Mapping[str, tuple[str, Upcaster]] = UPCASTERS,
) -> Envelope:
    """Decode a binary-mode record into an envelope; raises `InvalidEvent` if it is not valid."""
    attributes, content_type = _read_headers(headers)
    _check_content_type(content_type)
    event_type = attributes["type"]
    data = _read_data(event_type, value, models, upcasters)
    try:
        time = parse_time(attributes["time"])
    except ValueError as exc:
        raise InvalidEvent(InvalidEventReason.MALFORMED_ATTRIBUTE, f"ce_time: {exc}") from exc
    try:
        envelope = Envelope(
            id=attributes["id"],
            source=attributes["source"],
            time=time,
            subject=attributes["subject"],
            data=data,
        )
    except ValidationError as exc:
        raise InvalidEvent(InvalidEventReason.MALFORMED_ATTRIBUTE, _summary(exc)) from exc
    _check_key(key, envelope)
    return envelope


def named_type(headers: Iterable[tuple[str, bytes | None]]) -> str | None:
    """The ``ce_type`` a record names, unchecked; None when absent, repeated or not UTF-8."""
    named = [raw for name, raw in headers if name == f"{HEADER_PREFIX}type"]
    if len(named) != 1 or named[0] is None:
        return None
    try:
        return named[0].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _read_headers(
    headers: Iterable[tuple[str, bytes | None]],
) -> tuple[dict[str, str], str | None]:
    """The ``ce_*`` attributes (without prefix) and the content type, as checked text."""
    attributes: dict[str, str] = {}
    content_type: str | None = None
    for name, raw in headers:
        if name != CONTENT_TYPE_HEADER and not name.startswith(HEADER_PREFIX):
            continue
        if raw is None:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(
                InvalidEventReason.MALFORMED_ATTRIBUTE, f"header {name} is not UTF-8"
            ) from exc
        if name == CONTENT_TYPE_HEADER:
            if content_type is not None:
                raise InvalidEvent(InvalidEventReason.MALFORMED_ATTRIBUTE, f"duplicate {name}")
            content_type = text
            continue
        attribute = name.removeprefix(HEADER_PREFIX)
        if attribute in attributes:
            raise InvalidEvent(InvalidEventReason.MALFORMED_ATTRIBUTE, f"duplicate header {name}")
        attributes[attribute] = text
    specversion = attributes.get("specversion")
    if specversion is None:
        raise InvalidEvent(InvalidEventReason.MISSING_ATTRIBUTE, "header ce_specversion missing")
    if specversion != SPECVERSION:
        raise InvalidEvent(
            InvalidEventReason.UNSUPPORTED_SPECVERSION,
            f"ce_specversion {specversion!r} is not {SPECVERSION!r}",
        )
    for attribute in REQUIRED_ATTRIBUTES:
        found = attributes.get(attribute)
        if found is None:
            raise InvalidEvent(
                InvalidEventReason.MISSING_ATTRIBUTE, f"header ce_{attribute} missing"
            )
        if not found or _CONTROL_CHARACTERS.search(found):
            raise InvalidEvent(
                InvalidEventReason.MALFORMED_ATTRIBUTE,
                f"ce_{attribute} must be a non-empty string without control characters",
            )
    return attributes, content_type


def _check_content_type(content_type: str | None) -> None:
    """Binary mode with JSON data only; structured mode is refused by name."""
    if content_type is None:
        raise InvalidEvent(InvalidEventReason.MISSING_ATTRIBUTE, "header content-type missing")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.startswith("application/cloudevents"):
        raise InvalidEvent(
            InvalidEventReason.UNSUPPORTED_CONTENT_TYPE,
            f"structured content mode ({content_type}) is not supported; use binary mode",
        )
    if media_type != CONTENT_TYPE:
        raise InvalidEvent(
            InvalidEventReason.UNSUPPORTED_CONTENT_TYPE,
            f"content-type {content_type!r} is not {CONTENT_TYPE}",
        )


def _read_data(
    event_type: str,
    value: bytes | None,
    models: Mapping[str, type[EventData]],
    upcasters: Mapping[str, tuple[str, Upcaster]],
) -> EventData:
    """Validate the record value against the model of `event_type`, upcasting old versions."""
    if event_type not in models and event_type not in upcasters:
        raise InvalidEvent(InvalidEventReason.UNKNOWN_TYPE, f"unknown event type {event_type!r}")
    if value is None:
        raise InvalidEvent(InvalidEventReason.INVALID_DATA, "record has no value")
    if event_type in models:
        # Fast path: pydantic parses the JSON itself.
        return _validate(event_type, lambda: models[event_type].model_validate_json(value))
    try:
        raw: Any = json.loads(value)
        if not isinstance(raw, dict):
            raise ValueError("data is not a JSON object")
        current_type, upcast_data = upcast(event_type, raw, upcasters)
    except ValueError as exc:  # invalid JSON, or an upcaster refused the data
        raise InvalidEvent(InvalidEventReason.INVALID_DATA, f"{event_type}: {exc}") from exc
    if current_type not in models:
        raise InvalidEvent(
            InvalidEventReason.UNKNOWN_TYPE,
            f"{event_type!r} upcasts to unknown type {current_type!r}",
        )
    return _validate(event_type, lambda: models[current_type].model_validate(upcast_data))


def _validate(event_type: str, parse: Callable[[], EventData]) -> EventData:
    """Run a pydantic parse, turning its validation errors into `InvalidEvent`."""
    try:
        return parse()
    except ValidationError as exc:
        raise InvalidEvent(
            InvalidEventReason.INVALID_DATA, f"{event_type}: {_summary(exc)}"
        ) from exc


def _check_key(key: bytes | None, envelope: Envelope) -> None:
    """The record key must be the data's record key, or per-key ordering is broken."""
    expected = envelope.data.record_key()
    if key is None:
        raise InvalidEvent(
            InvalidEventReason.KEY_MISMATCH, f"record has no key, expected {expected!r}"
        )
    if key != expected.encode():
        raise InvalidEvent(
            InvalidEventReason.KEY_MISMATCH,
            f"record key {key.decode('utf-8', 'replace')!r} is not {expected!r}",
        )


def _summary(exc: ValidationError, limit: int = 3) -> str:
    """A short, value-free description of validation errors (inputs may hold personal data)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors]
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more
