"""Background work a service runs beside its API: a `Worker` runs until asked to stop.

Workers stop on an event, not by cancellation: a loop that catches outages around a driver
call could absorb a `CancelledError` (or an error raised because of one) and run on forever,
hanging shutdown. Cancellation stays the last resort of the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol


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
