"""Upcasting old event type versions to the current model before validation."""

import json
from typing import Any

import pytest

from credreg_shared.events import topics
from credreg_shared.events.cloudevents import (
    InvalidEvent,
    InvalidEventReason,
    from_record,
    to_record,
)
from credreg_shared.events.models import CredentialRevoked
from credreg_shared.events.samples import every_event_kind, sample_envelope
from credreg_shared.events.upcasters import Upcaster, current_type, upcast

OLD_REVOKED = "org.credreg.credential.revoked.v0"


def rename_why_to_reason(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data["reason"] = data.pop("why")
    return data


UPCASTERS: dict[str, tuple[str, Upcaster]] = {
    OLD_REVOKED: (topics.CREDENTIAL_REVOKED_V1, rename_why_to_reason)
}


def test_old_version_is_upcast_to_the_current_model() -> None:
    revoked = next(d for d in every_event_kind() if isinstance(d, CredentialRevoked))
    record = to_record(sample_envelope(revoked))
    old_value = json.loads(record.value)
    old_value["why"] = old_value.pop("reason")
    old_headers = [(n, OLD_REVOKED.encode() if n == "ce_type" else v) for n, v in record.headers]

    envelope = from_record(
        record.key, json.dumps(old_value).encode(), old_headers, upcasters=UPCASTERS
    )

    assert envelope.data == revoked
    assert envelope.type == topics.CREDENTIAL_REVOKED_V1


def test_old_version_without_upcaster_is_an_unknown_type() -> None:
    record = to_record(sample_envelope())
    headers = [(n, OLD_REVOKED.encode() if n == "ce_type" else v) for n, v in record.headers]
    with pytest.raises(InvalidEvent) as caught:
        from_record(record.key, record.value, headers)
    assert caught.value.reason is InvalidEventReason.UNKNOWN_TYPE


def test_upcaster_loop_is_refused() -> None:
    def same(data: dict[str, Any]) -> dict[str, Any]:
        return data

    looping: dict[str, tuple[str, Upcaster]] = {"a": ("b", same), "b": ("a", same)}
    with pytest.raises(ValueError, match="loops"):
        upcast("a", {}, looping)


def test_the_current_type_follows_the_chain_without_data() -> None:
    def same(data: dict[str, Any]) -> dict[str, Any]:
        return data

    chain: dict[str, tuple[str, Upcaster]] = {"v0": ("v1", same), "v1": ("v2", same)}
    looping: dict[str, tuple[str, Upcaster]] = {"a": ("b", same), "b": ("a", same)}
    assert [current_type(t, chain) for t in ("v0", "v1", "v2", "other")] == [
        "v2",
        "v2",
        "v2",
        "other",
    ]
    assert current_type("a", looping) is None
