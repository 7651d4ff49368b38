"""The storage port: exactly-once effects per event, with no driver import.

Use cases, projections and workers depend on this module; ``idempotency.MongoIdempotentCollection``
and ``fakes.InMemoryIdempotentCollection`` implement it. See ``idempotency`` for the pattern.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

Document = dict[str, Any]
EventId = str | uuid.UUID

APPLIED_EVENTS_FIELD = "applied_events"
PROCESSED_EVENTS_COLLECTION = "processed_events"


class EffectOutcome(enum.Enum):
    """What ``apply_once`` did."""

    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    NO_DOCUMENT = "no_document"


class IdempotentCollection(Protocol):
    """A collection whose documents change at most once per event (see ``idempotency``)."""

    async def get(self, document_id: str) -> Document | None:
        """The document with this ``_id``, or None."""
        ...

    async def apply_once(
        self,
        document_id: str,
        event_id: EventId,
        update: Mapping[str, Any],
        *,
        upsert: bool = True,
    ) -> EffectOutcome:
        """Apply a MongoDB update document unless this event was already applied to it."""
        ...

    async def insert_once(self, document: Mapping[str, Any]) -> bool:
        """Insert the document; False when one with the same ``_id`` exists already."""
        ...


def update_with_marker(
    update: Mapping[str, Any], event_id: str, field: str = APPLIED_EVENTS_FIELD
) -> Document:
    """``update`` plus ``$addToSet`` of the event id; refuses replacements and marker edits."""
    if not update or not all(operator.startswith("$") for operator in update):
        raise ValueError("apply_once takes an update document of $-operators, not a replacement")
    for operator, fields in update.items():
        if isinstance(fields, Mapping) and any(
            path == field or path.startswith(f"{field}.") for path in fields
        ):
            raise ValueError(f"{operator} must not touch the marker field {field!r}")
    merged: Document = {operator: dict(fields) for operator, fields in update.items()}
    merged.setdefault("$addToSet", {})[field] = event_id
    return merged


class ProcessedEvents:
    """Markers of events whose (non-document) work is finished; record after the work."""

    def __init__(self, documents: IdempotentCollection) -> None:
        self.documents = documents

    async def seen(self, event_id: EventId) -> bool:
        """True when ``record`` already ran for this event."""
        return await self.documents.get(str(event_id)) is not None

    async def record(self, event_id: EventId, **details: Any) -> bool:
        """Mark the event processed; False when it was marked already."""
        marker = {**details, "_id": str(event_id), "processed_at": datetime.now(UTC)}
        return await self.documents.insert_once(marker)
