"""Unordered bulk inserts that tell which documents existed already."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from credreg_shared.storage.ports import Document

DUPLICATE_KEY = 11000


async def insert_new(
    collection: AsyncCollection[Document], documents: Sequence[Document]
) -> list[int]:
    """Insert unordered, in one command; the positions whose ``_id`` existed already (any other
    error raises)."""
    if not documents:
        return []
    try:
        await collection.insert_many(list(documents), ordered=False)
    except BulkWriteError as error:
        failures = error.details.get("writeErrors", [])
        if not failures or any(f.get("code") != DUPLICATE_KEY for f in failures):
            raise
        return sorted(f["index"] for f in failures)
    return []
