"""MongoDB storage for services: client, start-up indexes, and exactly-once effects per event.

See ``credreg_shared.storage.idempotency`` for the consumer pattern (effect and event-id
marker in one single-document atomic update; no multi-document transactions).
"""

from credreg_shared.storage.client import Document, connect, service_database
from credreg_shared.storage.idempotency import (
    APPLIED_EVENTS_FIELD,
    PROCESSED_EVENTS_COLLECTION,
    EffectOutcome,
    IdempotentCollection,
    MongoIdempotentCollection,
    ProcessedEvents,
    update_with_marker,
)
from credreg_shared.storage.indexes import IndexMismatchError, IndexSpec, ensure_indexes, index

__all__ = [
    "APPLIED_EVENTS_FIELD",
    "PROCESSED_EVENTS_COLLECTION",
    "Document",
    "EffectOutcome",
    "IdempotentCollection",
    "IndexMismatchError",
    "IndexSpec",
    "MongoIdempotentCollection",
    "ProcessedEvents",
    "connect",
    "ensure_indexes",
    "index",
    "service_database",
    "update_with_marker",
]
