"""Run a service in one process: uvicorn serving the app, background tasks under its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from credreg_shared.settings import ServiceSettings

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn, except that a SIGTERM/SIGINT ends in exit status 0 after a graceful shutdown.

    uvicorn re-raises the signal once it has shut down, so the process dies "killed by SIGTERM"
    even though it drained requests, stopped its consumer and committed; orchestrators and tests
    then cannot tell a clean stop from a crash.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Handle SIGINT/SIGTERM by asking the server to exit, and restore the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def server_for(app: FastAPI, settings: ServiceSettings) -> uvicorn.Server:
    """A uvicorn server for ``app`` on the configured host and port, logging through ours."""
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    app.state.server = server
    return server


async def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve until SIGINT/SIGTERM or ``request_shutdown``; then drain requests and run shutdown."""
    await server_for(app, settings).serve()


def request_shutdown(app: FastAPI) -> None:
    """Ask the server running ``app`` (if any) to shut down gracefully."""
    server: uvicorn.Server | None = getattr(app.state, "server", None)
    if server is not None:
        server.should_exit = True


@contextlib.asynccontextmanager
async def supervised_task(
    app: FastAPI, name: str, coroutine: Coroutine[Any, Any, None]
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coroutine`` for the lifespan of the app; shut the server down if it ends early.

    Use inside a lifespan: ``async with supervised_task(app, "consumer", runner.run()): yield``.
    A consumer that stops (crash or not) leaves the HTTP side answering for a service that does
    no work, so the whole process exits and the orchestrator restarts it.
    """
    task = asyncio.create_task(coroutine, name=name)

    def on_done(finished: asyncio.Task[None]) -> None:
        if finished.cancelled():
            return
        error = finished.exception()
        if error is not None:
            logger.error("background task %s failed", name, exc_info=error)
        else:
            logger.error("background task %s stopped unexpectedly", name)
        request_shutdown(app)

    task.add_done_callback(on_done)
    try:
        yield task
    finally:
        task.remove_done_callback(on_done)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
