"""Run a service in one process: uvicorn serving the app, background tasks under its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI

from credreg_shared.settings import ServiceSettings
from credreg_shared.workers import Worker

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


STOP_TIMEOUT_S = 15.0
"""How long a worker may take to finish its step after `stop` before it is cancelled."""


@contextlib.asynccontextmanager
async def supervised_worker(
    app: FastAPI, name: str, worker: Worker, *, stop_timeout: float = STOP_TIMEOUT_S
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``worker`` for the lifespan of the app; shut the server down if it ends early.

    A worker that stops by itself (crash or not) leaves the HTTP side answering for a service
    that does no work, so the whole process exits and the orchestrator restarts it. On exit the
    worker is asked to stop and given `stop_timeout` seconds; only then is it cancelled, and a
    worker that ignores even that is left behind with an error in the log rather than hanging
    the shutdown.
    """
    task = asyncio.create_task(worker.run(), name=name)

    def on_done(finished: asyncio.Task[None]) -> None:
        error = None if finished.cancelled() else finished.exception()
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
        worker.stop()
        done, _ = await asyncio.wait({task}, timeout=stop_timeout)
        if not done:
            logger.warning("%s did not stop in %.0fs; cancelling it", name, stop_timeout)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=stop_timeout)
        if not done:
            logger.error("%s ignored its cancellation; leaving it behind", name)
        elif not task.cancelled() and (error := task.exception()) is not None:
            logger.error("background task %s failed while stopping", name, exc_info=error)
