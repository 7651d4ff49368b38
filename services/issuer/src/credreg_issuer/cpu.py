"""Where CPU-bound work (signing) runs: inline, or in a pool of processes beside the event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class CpuRunner(Protocol):
    """Runs a CPU-bound function (signing) somewhere: inline, or in a process pool."""

    def __call__(self, function: Callable[..., T], /, *args: Any) -> Awaitable[T]:
        """The function's result."""
        ...


async def run_inline(function: Callable[..., T], /, *args: Any) -> T:
    """Run in the event loop itself (tests; a service with no signing processes)."""
    return function(*args)


def process_pool(processes: int) -> tuple[CpuRunner, Callable[[], None]]:
    """A runner over `processes` worker processes, and its shutdown."""
    # forkserver: a fork of this process (threads of the Kafka and Mongo clients) is unsafe.
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("forkserver"))

    def run(function: Callable[..., T], /, *args: Any) -> Awaitable[T]:
        return asyncio.get_running_loop().run_in_executor(pool, function, *args)

    def shutdown() -> None:
        pool.shutdown(wait=True, cancel_futures=True)

    return run, shutdown
