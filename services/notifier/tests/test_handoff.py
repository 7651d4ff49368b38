"""The in-process hand-off from the consumer to the delivery lanes."""

import asyncio

from credreg_notifier.adapters.handoff import InProcessHandoff
from credreg_notifier.domain import Handed


async def ids(handoff: InProcessHandoff, count: int, seconds: float) -> list[str | None]:
    """The ids of the next `count` takes (None for nothing handed)."""
    taken = [await handoff.take(seconds) for _ in range(count)]
    return [handed.delivery_id if handed else None for handed in taken]


async def test_ids_come_out_in_order_once_each_while_waiting() -> None:
    handoff = InProcessHandoff()
    for delivery_id in ("a", "b", "a"):
        handoff.offer(delivery_id)
    assert await ids(handoff, 3, 0.01) == ["a", "b", None]
    handoff.offer("a")  # taken already: it may be offered again
    assert await handoff.take(0) == Handed("a")


async def test_a_full_queue_drops_the_offer() -> None:
    handoff = InProcessHandoff(capacity=2)
    for delivery_id in ("a", "b", "c"):
        assert handoff.room() == (2 if delivery_id == "a" else 1 if delivery_id == "b" else 0)
        handoff.offer(delivery_id)
    assert await ids(handoff, 3, 0) == ["a", "b", None]
    handoff.offer("c")
    assert await ids(handoff, 1, 0) == ["c"], "a dropped id was never marked as waiting"


async def test_take_waits_for_an_offer_and_gives_up_after_its_time() -> None:
    handoff = InProcessHandoff()
    assert await handoff.take(0.01) is None
    waiting = asyncio.create_task(handoff.take(5))
    await asyncio.sleep(0)
    handoff.offer("late", {"_id": "late"})
    async with asyncio.timeout(5):
        assert await waiting == Handed("late", {"_id": "late"}), "the claimed delivery goes along"
