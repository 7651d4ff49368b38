"""Deliveries handed from this process's consumer to its delivery lanes, in memory."""

from __future__ import annotations

import asyncio
import contextlib

HANDOFF_CAPACITY = 10_000


class InProcessHandoff:
    """``DeliveryHandoff`` over a bounded ``asyncio.Queue``; an id already waiting is not
    queued twice. Losing the queue (a crash, a full queue) loses nothing: every delivery keeps
    its due marker in the database, which idle lanes look at."""

    def __init__(self, capacity: int = HANDOFF_CAPACITY) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=capacity)
        self.waiting: set[str] = set()

    def offer(self, delivery_id: str) -> None:
        """Queue `delivery_id` unless it waits already or the queue is full."""
        if delivery_id in self.waiting:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(delivery_id)
            self.waiting.add(delivery_id)

    async def take(self, seconds: float) -> str | None:
        """The next queued id, or None after `seconds` (at once for 0); a cancellation still
        propagates."""
        if not self.queue.empty():
            delivery_id = self.queue.get_nowait()
        elif seconds <= 0:
            return None
        else:
            try:
                async with asyncio.timeout(seconds):
                    delivery_id = await self.queue.get()
            except TimeoutError:
                return None
        self.waiting.discard(delivery_id)
        return delivery_id
