"""Connect a service to its own MongoDB database with PyMongo's async client."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from credreg_shared.settings import ServiceSettings
from credreg_shared.storage.ports import Document

SERVER_SELECTION_TIMEOUT_MS = 5_000
CONNECT_TIMEOUT_MS = 5_000


def connect(settings: ServiceSettings, **options: Any) -> AsyncMongoClient[Document]:
    """A client for ``settings.mongodb_uri``; it connects lazily, on the first operation."""
    defaults: dict[str, Any] = {
        # Fail an operation within seconds when the server is away, instead of PyMongo's 30 s.
        "serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
        "connectTimeoutMS": CONNECT_TIMEOUT_MS,
        "appname": settings.service_name,
        "tz_aware": True,
        "uuidRepresentation": "standard",
    }
    return AsyncMongoClient(settings.mongodb_uri, **{**defaults, **options})


def service_database(
    client: AsyncMongoClient[Document], settings: ServiceSettings
) -> AsyncDatabase[Document]:
    """The service's own database, ``settings.mongodb_database``."""
    return client[settings.mongodb_database]
