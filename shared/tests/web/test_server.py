"""serve() runs the app with its background tasks in one process and shuts both down cleanly."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from credreg_shared.settings import ServiceSettings
from credreg_shared.web import create_app, request_shutdown, serve, supervised_task


async def wait_until_started(app: FastAPI) -> int:
    """The port the app's server listens on, once it accepts connections."""
    async with asyncio.timeout(10):
        # uvicorn exposes a ``started`` flag, not an event to await.
        while not (hasattr(app.state, "server") and app.state.server.started):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    port: int = app.state.server.servers[0].sockets[0].getsockname()[1]
    return port


def app_with_background(work: "asyncio.Future[None] | None", log: list[str]) -> FastAPI:
    async def background() -> None:
        log.append("started")
        try:
            if work is None:
                await asyncio.Event().wait()
            else:
                await work
        finally:
            log.append("stopped")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with supervised_task(app, "worker", background()):
            yield

    return create_app(title="svc", version="0", lifespan=lifespan)


async def test_serves_http_and_stops_background_work_on_shutdown() -> None:
    log: list[str] = []
    app = app_with_background(None, log)
    running = asyncio.create_task(serve(app, ServiceSettings(http_port=0)))

    port = await wait_until_started(app)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.get("/healthz")
    request_shutdown(app)
    async with asyncio.timeout(10):
        await running

    assert response.json() == {"status": "ok"}
    assert log == ["started", "stopped"]


async def test_failing_background_task_shuts_the_server_down() -> None:
    log: list[str] = []
    work: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    app = app_with_background(work, log)
    running = asyncio.create_task(serve(app, ServiceSettings(http_port=0)))
    await wait_until_started(app)

    work.set_exception(RuntimeError("consumer crashed"))
    async with asyncio.timeout(10):
        await running

    assert log == ["started", "stopped"]


def test_request_shutdown_without_a_server_does_nothing() -> None:
    request_shutdown(create_app(title="svc", version="0"))
