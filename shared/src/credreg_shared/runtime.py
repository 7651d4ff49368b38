"""The wiring every service shares: Mongo, topics, publisher and consumer under one lifespan.

A service's composition root (its ``bootstrap.py``) says what is its own — indexes, handlers,
routes — and ``service_lifespan`` connects the real adapters in the right order: database and
indexes, topics, producer, then the consumer runner as a supervised task. On shutdown the
runner finishes its in-flight batch and commits before the producer and client close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, ConnectionFailure

from credreg_shared.events.topics import CREDENTIALS_TOPIC
from credreg_shared.logs import configure_logging
from credreg_shared.messaging import (
    ConsumerRunner,
    HandlerRegistry,
    KafkaPublisher,
    RetryPolicy,
    ensure_topics,
)
from credreg_shared.settings import ServiceSettings
from credreg_shared.storage import connect, ensure_indexes, service_database
from credreg_shared.storage.client import Document
from credreg_shared.storage.indexes import IndexSpec
from credreg_shared.web import (
    add_readiness_check,
    kafka_ready,
    mongo_ready,
    request_shutdown,
    serve,
    supervised_task,
)

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 15.0
# The database being away is never the event's fault: retry without bound, never dead-letter.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (ConnectionFailure, AutoReconnect)


@dataclass
class ServiceRuntime:
    """The real adapters of a running service."""

    settings: ServiceSettings
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    publisher: KafkaPublisher

    @property
    def credentials_topic(self) -> str:
        """The deployed name of the credentials topic."""
        return self.settings.topic(CREDENTIALS_TOPIC)


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def service_lifespan(
    settings: ServiceSettings,
    *,
    indexes: Sequence[IndexSpec],
    on_start: Callable[[FastAPI, ServiceRuntime], None],
    handlers: Callable[[ServiceRuntime], HandlerRegistry] | None = None,
    workers: Callable[[ServiceRuntime], Mapping[str, Coroutine[Any, Any, None]]] | None = None,
) -> Lifespan:
    """A lifespan starting the real adapters, the consumer (with `handlers`) and `workers`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = connect(settings)
        db = service_database(client, settings)
        add_readiness_check(app, mongo_ready(client))
        add_readiness_check(app, kafka_ready(settings.kafka_bootstrap_servers))
        await ensure_indexes(db, indexes)
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            {settings.topic(CREDENTIALS_TOPIC): settings.topic_partitions},
        )
        publisher = KafkaPublisher(
            settings.kafka_bootstrap_servers, client_id=settings.service_name
        )
        await publisher.start()
        runtime = ServiceRuntime(settings, client, db, publisher)
        on_start(app, runtime)
        try:
            async with AsyncExitStack() as stack:
                if handlers is not None:
                    await stack.enter_async_context(_consumer(app, runtime, handlers(runtime)))
                for name, work in (workers(runtime) if workers else {}).items():
                    # Workers keep their state in the database, so cancelling them is safe.
                    await stack.enter_async_context(supervised_task(app, name, work))
                yield
        finally:
            await publisher.stop()
            await client.close()

    return lifespan


@asynccontextmanager
async def _consumer(
    app: FastAPI, runtime: ServiceRuntime, registry: HandlerRegistry
) -> AsyncIterator[None]:
    settings = runtime.settings
    runner = ConsumerRunner(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.consumer_group,
        topics=[runtime.credentials_topic],
        registry=registry,
        dead_letters=runtime.publisher,
        retry=RetryPolicy(retry_forever_on=INFRASTRUCTURE_ERRORS),
        client_id=settings.service_name,
    )
    app.state.consumer = runner
    task = asyncio.create_task(runner.run(), name="consumer")

    def on_done(finished: asyncio.Task[None]) -> None:
        # A consumer that ends by itself leaves an API for a service doing no work: exit, so
        # the orchestrator restarts the process.
        if not runner.stopping:
            error = None if finished.cancelled() else finished.exception()
            log.error("consumer stopped unexpectedly", exc_info=error)
            request_shutdown(app)

    task.add_done_callback(on_done)
    try:
        yield
    finally:
        # Graceful stop: finish the in-flight batch and commit its offsets before exiting.
        runner.stop()
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if not done:
            log.warning("consumer did not stop in %.0fs; cancelling it", STOP_TIMEOUT_S)
            task.cancel()
            await asyncio.wait({task})


def run_service(settings: ServiceSettings, build_app: Callable[[], FastAPI]) -> None:
    """Run a service process until SIGTERM/SIGINT: JSON logs, the app and its background work."""
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    app = build_app()
    asyncio.run(serve(app, settings))
