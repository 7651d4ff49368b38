"""`PeriodicRounds`: rounds until stopped, outages waited out, cancellation never absorbed."""

import asyncio

import pytest

from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.testing import finishes
from credreg_shared.workers import PeriodicRounds

BOUND = 5.0  # seconds; a guard against hangs, not a timing assertion


class Scripted(PeriodicRounds):
    """Rounds that raise the scripted errors in turn, then stop the worker."""

    name = "scripted rounds"

    def __init__(self, outcomes: list[BaseException | None]) -> None:
        super().__init__(poll=0.001)
        self.outcomes = outcomes
        self.rounds = 0

    async def run_round(self) -> object:
        self.rounds += 1
        if self.rounds > len(self.outcomes):
            self.stop()
            return None
        outcome = self.outcomes[self.rounds - 1]
        if outcome is not None:
            raise outcome
        return None


async def test_outages_pause_a_round_and_the_rounds_go_on_until_stopped() -> None:
    worker = Scripted([StorageUnavailable("db away"), None, PublishUnavailable("log away")])
    async with asyncio.timeout(BOUND):
        await worker.run()
    assert worker.rounds == 4


async def test_any_other_error_ends_the_worker() -> None:
    worker = Scripted([RuntimeError("a bug")])
    with pytest.raises(RuntimeError, match="a bug"):
        async with asyncio.timeout(BOUND):
            await worker.run()


async def test_a_cancelled_worker_ends_even_in_an_outage() -> None:
    class AlwaysAway(PeriodicRounds):
        async def run_round(self) -> object:
            await asyncio.sleep(0.001)
            raise StorageUnavailable("db away")

    worker = AlwaysAway(poll=0.001)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.01)
    task.cancel()
    assert await finishes(task, BOUND), "the outage loop absorbed its cancellation"
    assert task.cancelled()
