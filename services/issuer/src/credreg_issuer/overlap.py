"""Two-stage work in order, the next item's first stage running while the current one's second
does: signing (CPU, in the signing processes) beside storing and publishing (I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


async def overlapped(
    items: Sequence[T],
    prepare: Callable[[T], Awaitable[P]],
    finish: Callable[[P], Awaitable[R]],
) -> AsyncGenerator[tuple[T, R], None]:
    """`finish(await prepare(item))` for each item, in order, preparing the next item meanwhile.

    Use it under `contextlib.aclosing`: leaving early cancels the preparation under way.
    """
    upcoming: asyncio.Future[P] | None = None
    try:
        for position, item in enumerate(items):
            prepared = await upcoming if upcoming is not None else await prepare(item)
            upcoming = None
            if position + 1 < len(items):
                upcoming = asyncio.ensure_future(prepare(items[position + 1]))
            yield item, await finish(prepared)
    finally:
        if upcoming is not None:
            upcoming.cancel()
            await asyncio.gather(upcoming, return_exceptions=True)
