"""Deliveries handed from this process's consumer to its delivery lanes, in memory."""

from __future__ import annotations

import asyncio
import contextlib

from credreg_notifier.domain import Handed
from credreg_shared.storage.ports import Document

HANDOFF_CAPACITY = 10_000


class InProcessHandoff:
    """``DeliveryHandoff`` over a bounded ``asyncio.Queue``; an id already waiting is not
    queued twice. Losing the queue (a crash, a full queue) loses nothing: every delivery keeps
    its due marker in the database, which idle lanes look at."""

    def __init__(self, capacity: int = HANDOFF_CAPACITY) -> None:
        self.queue: asyncio.Queue[Handed] = asyncio.Queue(maxsize=capacity)
        self.waiting: set[str] = set()

    def room(self) -> int:
        """How many more the queue can take."""
        return self.queue.maxsize - self.queue.qsize()

    def offer(self, delivery_id: str, claimed: Document | None = None) -> None:
        """Queue `delivery_id` unless it waits already or the queue is full."""
        if delivery_id in self.waiting:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(Handed(delivery_id, claimed))
            self.waiting.add(delivery_id)

    async def take(self, seconds: float) -> Handed | None:
        """The next queued delivery, or None after `seconds` (at once for 0); a cancellation
        still propagates."""
        if not self.queue.empty():
            handed = self.queue.get_nowait()
        elif seconds <= 0:
            return None
        else:
            try:
                async with asyncio.timeout(seconds):
                    handed = await self.queue.get()
            except TimeoutError:
                return None
        self.waiting.discard(handed.delivery_id)
        return handed
