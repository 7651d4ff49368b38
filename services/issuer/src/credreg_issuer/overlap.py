"""Two-stage work in order, the next items' first stage running while the current one's second
does: signing (CPU, in the signing processes) beside storing and publishing (I/O)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


async def overlapped(
    items: Sequence[T],
    prepare: Callable[[T], Awaitable[P]],
    finish: Callable[[P], Awaitable[R]],
    *,
    ahead: int = 1,
) -> AsyncGenerator[tuple[T, R], None]:
    """`finish(await prepare(item))` for each item, in order, preparing up to `ahead` next items
    meanwhile (each started once the item before the current one is prepared).

    Use it under `contextlib.aclosing`: leaving early cancels the preparations under way.
    """
    upcoming: deque[asyncio.Future[P]] = deque()
    started = 0

    def start_next() -> None:
        nonlocal started
        upcoming.append(asyncio.ensure_future(prepare(items[started])))
        started += 1

    try:
        for item in items:
            if not upcoming:
                start_next()
            prepared = await upcoming.popleft()
            while started < len(items) and len(upcoming) < ahead:
                start_next()
            yield item, await finish(prepared)
    finally:
        for future in upcoming:
            future.cancel()
        await asyncio.gather(*upcoming, return_exceptions=True)
