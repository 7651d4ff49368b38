"""PyMongo's outages leave adapters as StorageUnavailable, but never a cancellation."""

import asyncio

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError, ServerSelectionTimeoutError

from credreg_shared.errors import StorageUnavailable
from credreg_shared.storage import storage_adapter


@storage_adapter
class Adapter:
    """Raises what it is told to, like a PyMongo call would."""

    def __init__(self) -> None:
        self.raise_next: Exception | None = None
        self.entered = asyncio.Event()

    async def read(self) -> str:
        if self.raise_next is not None:
            raise self.raise_next
        return "found"

    async def in_flight(self) -> None:
        """Like a PyMongo operation: its connection is closed under a cancelled call."""
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise AutoReconnect("connection closed") from None


async def test_answers_pass_through() -> None:
    assert await Adapter().read() == "found"


@pytest.mark.parametrize(
    "outage", [AutoReconnect("gone"), ServerSelectionTimeoutError("no server")]
)
async def test_an_outage_becomes_storage_unavailable(outage: Exception) -> None:
    adapter = Adapter()
    adapter.raise_next = outage
    with pytest.raises(StorageUnavailable) as raised:
        await adapter.read()
    assert raised.value.__cause__ is outage


async def test_other_driver_errors_are_left_to_the_adapter() -> None:
    adapter = Adapter()
    adapter.raise_next = DuplicateKeyError("taken")
    with pytest.raises(DuplicateKeyError):
        await adapter.read()


async def test_an_outage_caused_by_cancelling_the_call_stays_a_cancellation() -> None:
    adapter = Adapter()
    outages: list[Exception] = []

    async def retry_loop() -> None:
        # The shape that hung the notifier: a loop that waits out storage outages.
        while True:
            try:
                await adapter.in_flight()
            except StorageUnavailable as outage:
                outages.append(outage)
                await asyncio.sleep(0.01)

    task = asyncio.create_task(retry_loop())
    await asyncio.wait_for(adapter.entered.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done == {task}
    assert task.cancelled()
    assert outages == []
