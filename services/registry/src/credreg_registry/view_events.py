"""The models the view's consumer parses events into: the contract's, but for the credential.

The view keeps an issued credential as JSON text (``credential_bodies``). Parsed into a dict, as
the contract model has it, a 4 KB credential took ~15 KB of memory for as long as its batch was
applied (a batch of 2,000 lifted the registry's RSS by ~70 MB), and parsing it only to write it
back as text was ~60 % of the time the consumer spent reading an issued event. `IssuedForView`
keeps the credential's own bytes as text: the record is split into its top-level values without
parsing them (msgspec's ``Raw``), every other field is validated as the contract says, and the
credential is only checked to be a JSON object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import msgspec
from pydantic import Field, model_validator
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
        try:
            members = _TOP_LEVEL.decode(json_data)
        except msgspec.DecodeError:
            members = None  # not JSON, or not an object: pydantic's own path names the error
        text = _object_text(members.pop("credential", None)) if members is not None else None
        if members is not None and text is not None:
            # The other members only; a `credential_json` sent along is replaced below.
            members["credential_json"] = msgspec.Raw(b'""')
            json_data = msgspec.json.encode(members)
        event = super().model_validate_json(
            json_data,
            strict=strict,
            extra=extra,
            context=context,
            by_alias=by_alias,
            by_name=by_name,
        )
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
