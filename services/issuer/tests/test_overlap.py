"""Two-stage work in order, the next item prepared while the current one finishes."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from credreg_issuer.overlap import overlapped


async def test_items_finish_in_order_while_the_next_is_prepared() -> None:
    log: list[str] = []

    async def prepare(item: int) -> int:
        log.append(f"prepare {item}")
        await asyncio.sleep(0)
        return item * 10

    async def finish(prepared: int) -> int:
        log.append(f"finish {prepared}")
        await asyncio.sleep(0.01)
        log.append(f"finished {prepared}")
        return prepared + 1

    async with aclosing(overlapped([1, 2, 3], prepare, finish)) as done:
        results = [pair async for pair in done]

    assert results == [(1, 11), (2, 21), (3, 31)]
    # Item 2 is prepared while item 1 is being finished, not after.
    assert log.index("prepare 2") < log.index("finished 10")
    assert log.index("prepare 3") < log.index("finished 20")


async def test_leaving_early_cancels_the_preparation_under_way() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def prepare(item: int) -> int:
        if item == 2:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return item

    async def finish(prepared: int) -> int:
        await started.wait()
        return prepared

    async with asyncio.timeout(5), aclosing(overlapped([1, 2], prepare, finish)) as done:
        async for _ in done:
            break
    assert cancelled.is_set()


async def test_with_two_ahead_two_items_are_prepared_together_and_finish_in_order() -> None:
    preparing: set[int] = set()
    most_at_once = 0
    finished: list[int] = []

    async def prepare(item: int) -> int:
        nonlocal most_at_once
        preparing.add(item)
        most_at_once = max(most_at_once, len(preparing))
        await asyncio.sleep(0.01 * (5 - item))  # later items prepare faster
        preparing.discard(item)
        return item

    async def finish(prepared: int) -> int:
        finished.append(prepared)
        await asyncio.sleep(0.02)
        return prepared

    async with (
        asyncio.timeout(5),
        aclosing(overlapped([1, 2, 3, 4], prepare, finish, ahead=2)) as done,
    ):
        results = [item async for item, _ in done]

    assert results == finished == [1, 2, 3, 4]
    assert most_at_once == 2
