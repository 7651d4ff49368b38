"""Background work a service runs beside its API: a `Worker` runs until asked to stop.

Workers stop on an event, not by cancellation: a loop that catches outages around a driver
call could absorb a `CancelledError` (or an error raised because of one) and run on forever,
hanging shutdown. Cancellation stays the last resort of the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from credreg_shared.errors import PublishUnavailable, StorageUnavailable, raise_if_cancelling

log = logging.getLogger(__name__)


class Worker(Protocol):
    """A long-running loop: `run` returns soon after `stop` is called."""

    async def run(self) -> None:
        """Work until `stop`; an exception ends the service (the orchestrator restarts it)."""
        ...

    def stop(self) -> None:
        """Ask `run` to finish its current step and return."""
        ...


class StoppableLoop:
    """The stop signal of a polling worker: `stopping`, `stop()` and an interruptible pause."""

    def __init__(self) -> None:
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to return after its current step."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether `stop` was called."""
        return self._stop.is_set()

    async def stopped(self) -> None:
        """Return once `stop` is called."""
        await self._stop.wait()

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if `stop` is called meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()


class PeriodicRounds:
    """A `Worker` that runs `run_round` every `poll` seconds until stopped: the database or the
    log being away pauses a round and never ends the loop; a cancellation always does."""

    name = "periodic rounds"
    """What the log calls this worker when a round is paused."""

    def __init__(self, *, poll: float) -> None:
        self.poll = poll
        self.loop = StoppableLoop()

    def stop(self) -> None:
        """Return after the current round."""
        self.loop.stop()

    async def run(self) -> None:
        """Rounds until stopped."""
        while not self.loop.stopping:
            try:
                await self.run_round()
            except (StorageUnavailable, PublishUnavailable) as outage:
                raise_if_cancelling(outage)
                log.warning("%s paused: will retry", self.name, exc_info=True)
            await self.loop.pause(self.poll)

    async def run_round(self) -> object:
        """One round of the work."""
        raise NotImplementedError
