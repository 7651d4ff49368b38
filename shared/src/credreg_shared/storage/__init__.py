"""MongoDB storage for services: client, start-up indexes, and exactly-once effects per event.

``ports`` is what core modules import (no driver); ``idempotency`` explains the consumer pattern
(effect and event-id marker in one single-document atomic update; no multi-document
transactions); ``errors`` turns PyMongo's outages into ``StorageUnavailable``.
"""

from credreg_shared.errors import StorageUnavailable
from credreg_shared.storage.bulk import insert_new
from credreg_shared.storage.client import connect, service_database
from credreg_shared.storage.deferred_deletes import DeferredDeletes
from credreg_shared.storage.errors import storage_adapter, storage_errors
from credreg_shared.storage.idempotency import MongoIdempotentCollection
from credreg_shared.storage.indexes import IndexMismatchError, IndexSpec, ensure_indexes, index
from credreg_shared.storage.ports import (
    APPLIED_EVENTS_FIELD,
    PROCESSED_EVENTS_COLLECTION,
    Document,
    EffectOutcome,
    IdempotentCollection,
    ProcessedEvents,
    update_with_marker,
)

__all__ = [
    "APPLIED_EVENTS_FIELD",
    "PROCESSED_EVENTS_COLLECTION",
    "DeferredDeletes",
    "Document",
    "EffectOutcome",
    "IdempotentCollection",
    "IndexMismatchError",
    "IndexSpec",
    "MongoIdempotentCollection",
    "ProcessedEvents",
    "StorageUnavailable",
    "connect",
    "ensure_indexes",
    "index",
    "insert_new",
    "service_database",
    "storage_adapter",
    "storage_errors",
    "update_with_marker",
]
