"""The models the view's consumer parses events into: the contract's, but for the credential.

The view keeps an issued credential as JSON text (``credential_bodies``). Parsed into a dict, as
the contract model has it, a 4 KB credential took ~15 KB of memory for as long as its batch was
applied (a batch of 2,000 lifted the registry's RSS by ~70 MB), and parsing it only to write it
back as text was ~60 % of the time the consumer spent reading an issued event. `IssuedForView`
keeps the credential's own bytes as text: the record is split into its top-level values without
parsing them (msgspec's ``Raw``), every other field is validated as the contract says, and the
credential is only checked to be a JSON object.

Two paths give the same answers (``test_view_events`` compares them over many malformed events):
the usual one decodes the other members to plain values and validates them as Python data;
anything it cannot take, or that fails validation, goes through pydantic's own JSON parser, so
an error always reads as the contract's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import msgspec
from pydantic import Field, ValidationError, model_validator
from pydantic.config import ExtraValues
from pydantic_core import to_json

from credreg_shared.events.models import EVENT_MODELS, CredentialIssued, EventData

_TOP_LEVEL = msgspec.json.Decoder(dict[str, msgspec.Raw])
"""A JSON object's members, each value kept as its raw bytes (checked, not parsed)."""


class IssuedForView(CredentialIssued):
    """``credential.issued`` with its credential as JSON text (`credential` is left empty)."""

    credential: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
    credential_json: str

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """The event with its credential's bytes as text; anything unusual takes pydantic's path."""
        options = {
            "strict": strict,
            "extra": extra,
            "context": context,
            "by_alias": by_alias,
            "by_name": by_name,
        }
        if all(option is None for option in options.values()):
            event = cls._from_members(json_data)
            if event is not None:
                return event
        return cls._validated_by_pydantic(json_data, **options)

    @classmethod
    def _from_members(cls, json_data: str | bytes | bytearray) -> Self | None:
        """The event from its members as decoded JSON values, validated as Python data; None
        for anything that is not a valid event with a credential object (pydantic's path then
        names the error)."""
        try:
            members = _MEMBERS.decode(json_data)
        except msgspec.DecodeError:
            return None
        text = _object_text(members.credential)
        if text is None:
            return None
        data = {
            name: value
            for name in _FIELDS
            if (value := getattr(members, name)) is not msgspec.UNSET
        }
        data["credential_json"] = text
        try:
            return cls.model_validate(data)
        except ValidationError:
            return None

    @classmethod
    def _validated_by_pydantic(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """The event as pydantic parses the JSON itself (`options` as `model_validate_json`
        takes them), with the credential's bytes as text."""
        try:
            members = _TOP_LEVEL.decode(json_data)
        except msgspec.DecodeError:
            members = None  # not JSON, or not an object: pydantic's own path names the error
        text = _object_text(members.pop("credential", None)) if members is not None else None
        if members is not None and text is not None:
            # The other members only; a `credential_json` sent along is replaced below.
            members["credential_json"] = msgspec.Raw(b'""')
            json_data = msgspec.json.encode(members)
        event = super().model_validate_json(json_data, **options)
        return event if text is None else event.model_copy(update={"credential_json": text})

    @model_validator(mode="before")
    @classmethod
    def _credential_as_text(cls, data: Any) -> Any:
        """Serialise a parsed credential (pydantic-core), for events built from Python data."""
        if isinstance(data, dict) and isinstance(data.get("credential"), dict):
            credential = data["credential"]
            data = {key: value for key, value in data.items() if key != "credential"}
            data["credential_json"] = to_json(credential).decode()
        return data


def _object_text(raw: msgspec.Raw | None) -> str | None:
    """A raw member's text when it is a JSON object, else None."""
    if raw is None:
        return None
    data = bytes(raw)
    if not data.startswith(b"{"):
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


_FIELDS = tuple(name for name in CredentialIssued.model_fields if name != "credential")
"""The contract's fields but the credential (none has an alias: checked by the tests)."""

_MEMBERS: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
    msgspec.defstruct(
        "IssuedMembers",
        [
            *((name, Any, msgspec.UNSET) for name in _FIELDS),
            ("credential", msgspec.Raw, msgspec.Raw(b"")),
        ],
    )
)
"""An issued event's members as plain JSON values (unknown ones dropped, as the contract
does), the credential as its raw bytes: two thirds of the time of re-encoding the other
members for pydantic's JSON parser and copying the model to set the text."""


VIEW_MODELS: Mapping[str, type[EventData]] = {
    **EVENT_MODELS,
    CredentialIssued.event_type: IssuedForView,
}
"""Every event type's model for the view's consumer."""


def credential_text(event: CredentialIssued) -> str:
    """The issued credential as the view stores it (JSON text)."""
    if isinstance(event, IssuedForView):
        return event.credential_json
    return to_json(event.credential).decode()
