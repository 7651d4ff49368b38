"""Where CPU-bound work (signing) runs: inline, or in a pool of processes beside the event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from importlib import import_module
from typing import Any, Protocol, TypeVar

from credreg_shared.heap import settle_heap

T = TypeVar("T")


class CpuRunner(Protocol):
    """Runs a CPU-bound function (signing) somewhere: inline, or in a process pool."""

    def __call__(self, function: Callable[..., T], /, *args: Any) -> Awaitable[T]:
        """The function's result."""
        ...


async def run_inline(function: Callable[..., T], /, *args: Any) -> T:
    """Run in the event loop itself (tests; a service with no signing processes), then let
    the other tasks run before going on."""
    result = function(*args)
    await asyncio.sleep(0)
    return result


def exit_with(service: int, every: float = 1.0) -> None:
    """Make a signing worker exit once `service` is gone: a service killed with SIGKILL never
    shuts its pool down, and the worker (and the forkserver it keeps alive) would live on."""

    def watch() -> None:
        while alive(service):
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-service", daemon=True).start()


def start_worker(service: int) -> None:
    """A signing worker's start: exit with `service`, and keep its start-up (the signing code,
    imported now) out of the collector's passes (6-8 % less CPU per credential signed)."""
    exit_with(service)
    import_module("credreg_issuer.domain")
    settle_heap()


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def process_pool(processes: int) -> tuple[CpuRunner, Callable[[], None]]:
    """A runner over `processes` worker processes (a new pool if one of them dies), and its
    shutdown."""

    def new_pool() -> ProcessPoolExecutor:
        # forkserver: a fork of this process (threads of the Kafka and Mongo clients) is unsafe.
        return ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=start_worker,
            initargs=(os.getpid(),),
        )

    pools = [new_pool()]

    async def run(function: Callable[..., T], /, *args: Any) -> T:
        pool = pools[-1]
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool is unusable; start a new one once.
            if pools[-1] is pool:
                pools.append(new_pool())
                pool.shutdown(wait=False, cancel_futures=True)
            return await asyncio.get_running_loop().run_in_executor(pools[-1], function, *args)

    def shutdown() -> None:
        pools[-1].shutdown(wait=True, cancel_futures=True)

    return run, shutdown
