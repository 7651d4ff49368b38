"""Deletes of housekeeping markers, gathered and sent as one ``delete_many`` by ``_id``.

For markers whose lingering is harmless (whoever looks at a marker next checks the document it
points at, and tidies it): a marker dropped after each delivery or publish costs a round trip
of its own, which on the local Mongo-wire server costs about as much as the write it marks.
Gathered, a busy service drops dozens of markers in one command; an idle one drops them at its
next write after `max_age`, or leaves them for the tidying look. A failed flush loses nothing
but the deletes, which the tidying look makes again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pymongo.asynchronous.collection import AsyncCollection

from credreg_shared.errors import StorageUnavailable, raise_if_cancelling
from credreg_shared.storage.errors import storage_errors
from credreg_shared.storage.ports import Document

log = logging.getLogger(__name__)


class DeferredDeletes:
    """Marker ids to delete from one collection: sent when `batch` are gathered or the first
    waited `max_age` seconds (checked at each `add`); `batch=1` deletes at once."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        batch: int = 64,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collection = collection
        self.batch = batch
        self.max_age = max_age
        self.clock = clock
        self.waiting: list[str] = []
        self.since = 0.0

    async def add(self, document_id: str) -> None:
        """Delete `document_id` now or with the next gathered ones."""
        if not self.waiting:
            self.since = self.clock()
        self.waiting.append(document_id)
        if len(self.waiting) >= self.batch or self.clock() - self.since >= self.max_age:
            await self.flush()

    async def flush(self) -> None:
        """Send the gathered deletes; an outage only leaves those markers to the tidying look."""
        ids, self.waiting = self.waiting, []
        if not ids:
            return
        try:
            with storage_errors():
                await self.collection.delete_many({"_id": {"$in": ids}})
        except StorageUnavailable as outage:
            raise_if_cancelling(outage)
            log.warning("markers left for the tidying look", extra={"markers": len(ids)})
