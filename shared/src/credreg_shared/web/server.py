"""Run a service in one process: uvicorn serving the app, background tasks under its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import uvicorn
from fastapi import FastAPI

from credreg_shared.settings import ServiceSettings

logger = logging.getLogger(__name__)


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
    server = uvicorn.Server(config)
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
