"""The models the view's consumer parses events into: the contract's, but for the credential.

The view keeps an issued credential as JSON text (``credential_bodies``). Parsed into a dict, as
the contract model has it, a 4 KB credential took ~15 KB of memory for as long as its batch was
applied (a batch of 2,000 lifted the registry's RSS by ~70 MB); `IssuedForView` turns it into
text as it is parsed, and the dict is freed at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator
from pydantic_core import to_json

from credreg_shared.events.models import EVENT_MODELS, CredentialIssued, EventData


class IssuedForView(CredentialIssued):
    """``credential.issued`` with its credential as JSON text (`credential` is left empty)."""

    credential: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
    credential_json: str

    @model_validator(mode="before")
    @classmethod
    def _credential_as_text(cls, data: Any) -> Any:
        """Serialise the parsed credential (pydantic-core: what the projection did after)."""
        if isinstance(data, dict) and isinstance(data.get("credential"), dict):
            credential = data["credential"]
            data = {key: value for key, value in data.items() if key != "credential"}
            data["credential_json"] = to_json(credential).decode()
        return data


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
