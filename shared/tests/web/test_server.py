"""serve() runs the app with its workers in one process and shuts both down cleanly."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from credreg_shared.settings import ServiceSettings
from credreg_shared.web import create_app, request_shutdown, serve, supervised_worker
from credreg_shared.workers import StoppableLoop


async def wait_until_started(app: FastAPI) -> int:
    """The port the app's server listens on, once it accepts connections."""
    async with asyncio.timeout(10):
        # uvicorn exposes a ``started`` flag, not an event to await.
        while not (hasattr(app.state, "server") and app.state.server.started):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    port: int = app.state.server.servers[0].sockets[0].getsockname()[1]
    return port


class Background(StoppableLoop):
    """A worker that waits for `stop` (or for `work` to end, when given)."""

    def __init__(self, work: "asyncio.Future[None] | None" = None) -> None:
        super().__init__()
        self.work = work
        self.log: list[str] = []

    async def run(self) -> None:
        self.log.append("started")
        try:
            if self.work is None:
                await self._stop.wait()
            else:
                await self.work
        finally:
            self.log.append("stopped")


def app_with(worker: Background) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with supervised_worker(app, "worker", worker):
            yield

    return create_app(title="svc", version="0", lifespan=lifespan)


async def test_serves_http_and_stops_the_worker_on_shutdown() -> None:
    worker = Background()
    app = app_with(worker)
    running = asyncio.create_task(serve(app, ServiceSettings(http_port=0)))

    port = await wait_until_started(app)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.get("/healthz")
    request_shutdown(app)
    async with asyncio.timeout(10):
        await running

    assert response.json() == {"status": "ok"}
    assert worker.log == ["started", "stopped"]
    assert worker.stopping


async def test_a_failing_worker_shuts_the_server_down() -> None:
    work: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    worker = Background(work)
    app = app_with(worker)
    running = asyncio.create_task(serve(app, ServiceSettings(http_port=0)))
    await wait_until_started(app)

    work.set_exception(RuntimeError("consumer crashed"))
    async with asyncio.timeout(10):
        await running

    assert worker.log == ["started", "stopped"]


class IgnoresStop:
    """A worker that never looks at its stop signal: only cancellation ends it."""

    def __init__(self) -> None:
        self.cancelled = False

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled = True

    def stop(self) -> None:
        """Ignored."""


async def test_a_worker_that_ignores_stop_is_cancelled_after_the_stop_timeout() -> None:
    worker = IgnoresStop()
    app = create_app(title="svc", version="0")
    async with asyncio.timeout(10):
        async with supervised_worker(app, "stubborn", worker, stop_timeout=0.1) as task:
            await asyncio.sleep(0)
    assert worker.cancelled
    assert task.cancelled()


class SwallowsCancellation:
    """The hang this guards against: a loop that catches what its cancellation raised."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def run(self) -> None:
        while not self.release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)

    def stop(self) -> None:
        """Ignored."""


async def test_a_worker_that_swallows_its_cancellation_cannot_hang_the_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = SwallowsCancellation()
    app = create_app(title="svc", version="0")
    try:
        with caplog.at_level(logging.ERROR):
            async with asyncio.timeout(10):
                async with supervised_worker(app, "swallower", worker, stop_timeout=0.1) as task:
                    await asyncio.sleep(0)
        assert not task.done()
        assert "ignored its cancellation" in caplog.text
    finally:
        worker.release.set()
        await asyncio.wait_for(task, 5)


def test_request_shutdown_without_a_server_does_nothing() -> None:
    request_shutdown(create_app(title="svc", version="0"))
