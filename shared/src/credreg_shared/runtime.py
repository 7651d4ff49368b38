"""The service chassis, written once: every service is a `ServiceDefinition` and a settings object.

A service's ``bootstrap.py`` declares what is its own (routes, error statuses, indexes, how its
ports are filled from the platform, its use cases, its event handlers and its workers);
`build_service_app` does the rest the same way for all four:

- **fakes or real adapters**: given ``fakes``, the app serves its routes from them and connects
  to nothing (unit tests drive handlers and workers themselves); otherwise its lifespan
  connects MongoDB (indexes), Kafka (topics, a publisher with a bounded wait for acks), builds
  the real adapters, then starts the consumer and the workers;
- **the lifespan**: on shutdown every worker (the consumer included) is asked to stop, finishes
  its step (the consumer commits its batch) and only then are the publisher and client closed;
- **domain errors → problem+json**: the service's status table, plus 503 for outages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase
from starlette.types import Lifespan

from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events.models import EVENT_MODELS, EventData
from credreg_shared.events.topics import CREDENTIALS_TOPIC, INSTITUTIONS_TOPIC
from credreg_shared.heap import settle_heap
from credreg_shared.logs import configure_logging
from credreg_shared.messaging import (
    ConsumerRunner,
    HandlerRegistry,
    KafkaPublisher,
    RecordPublisher,
    RetryPolicy,
    ensure_topics,
)
from credreg_shared.messaging.connection import kafka_client_options
from credreg_shared.messaging.processing import DeadLetterHook
from credreg_shared.settings import ServiceSettings
from credreg_shared.storage import connect, ensure_indexes, service_database
from credreg_shared.storage.indexes import IndexSpec
from credreg_shared.storage.ports import Document
from credreg_shared.web import (
    add_readiness_check,
    attach_use_cases,
    create_app,
    install_error_statuses,
    kafka_ready,
    metrics_registry,
    mongo_ready,
    serve,
    supervised_worker,
)
from credreg_shared.workers import Worker

log = logging.getLogger(__name__)

A = TypeVar("A")
"""A service's ports bundle (``ports.Adapters``): real adapters or fakes."""

VERSION = "0.1.0"
# The database or the broker being away is never the event's fault: retry without bound,
# never dead-letter.
RETRY_FOREVER_ON: tuple[type[Exception], ...] = (StorageUnavailable, PublishUnavailable)


@dataclass(frozen=True)
class Platform:
    """What the chassis connected for a running service, from which its adapters are built."""

    settings: ServiceSettings
    db: AsyncDatabase[Document]
    publisher: KafkaPublisher
    metrics: CollectorRegistry
    resources: AsyncExitStack

    def close_on_shutdown(self, close: Callable[[], Awaitable[object]]) -> None:
        """Run `close` at shutdown, after the workers stopped (an adapter's own client)."""
        self.resources.push_async_callback(close)

    @property
    def credentials_topic(self) -> str:
        """The deployed name of the credentials topic."""
        return self.settings.topic(CREDENTIALS_TOPIC)

    async def ensure_topics(self, partitions_by_topic: Mapping[str, int]) -> list[str]:
        """Create the missing topics (and DLQs) of a topic → partitions map, as the service."""
        return await ensure_service_topics(self.settings, partitions_by_topic)


async def ensure_service_topics(
    settings: ServiceSettings, partitions_by_topic: Mapping[str, int], *, with_dlq: bool = True
) -> list[str]:
    """`ensure_topics` with the service's Kafka credentials and its replication factor
    (``CREDREG_TOPIC_REPLICATION_FACTOR``)."""
    return await ensure_topics(
        partitions_by_topic=partitions_by_topic,
        with_dlq=with_dlq,
        replication_factor=settings.topic_replication_factor,
        **kafka_client_options(settings),
    )


class ServiceApi(Protocol):
    """A service's ``api`` module: its OpenAPI title, routes and error statuses."""

    @property
    def TITLE(self) -> str: ...  # noqa: N802 - a module constant
    @property
    def DESCRIPTION(self) -> str: ...  # noqa: N802 - a module constant
    @property
    def router(self) -> APIRouter: ...
    @property
    def ERROR_STATUSES(self) -> Mapping[type[Exception], int]: ...  # noqa: N802


@dataclass(frozen=True)
class ServiceDefinition(Generic[A]):
    """What one service declares; `build_service_app` wires it."""

    api: ServiceApi
    adapters: Callable[[Platform], A]
    use_cases: Callable[[A], Sequence[object]]
    indexes: Sequence[IndexSpec] = ()
    projection: Callable[[A], HandlerRegistry] | None = None
    workers: Callable[[A], Mapping[str, Worker]] = field(default=lambda _adapters: {})
    startup: Callable[[A], Awaitable[None]] | None = None
    """Checks before the service serves (real adapters only): raising refuses to start."""
    body_limits: Mapping[str, int] = field(default_factory=dict)
    """Path prefix → request body limit in bytes, for routes that take more than the default."""


def build_service_app(
    definition: ServiceDefinition[A], settings: ServiceSettings, *, fakes: A | None = None
) -> FastAPI:
    """The service's app: real adapters in its lifespan, or `fakes` and no connection at all."""
    api = definition.api
    lifespan = None if fakes is not None else _lifespan(definition, settings)
    app = create_app(
        title=api.TITLE,
        version=VERSION,
        description=api.DESCRIPTION,
        lifespan=lifespan,
        body_limits=definition.body_limits,
    )
    if fakes is not None:
        attach_use_cases(app, definition.use_cases(fakes))
    install_error_statuses(app, api.ERROR_STATUSES)
    app.include_router(api.router)
    return app


def _lifespan(definition: ServiceDefinition[A], settings: ServiceSettings) -> Lifespan[FastAPI]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kafka = kafka_client_options(settings)  # a CA file it cannot read fails here, first
        client = connect(settings)
        add_readiness_check(app, mongo_ready(client))
        add_readiness_check(app, kafka_ready(**kafka))
        try:
            db = service_database(client, settings)
            await ensure_indexes(db, definition.indexes)
            await ensure_service_topics(
                settings,
                {
                    settings.topic(topic): settings.topic_partitions
                    for topic in (CREDENTIALS_TOPIC, INSTITUTIONS_TOPIC)
                },
            )
            async with (
                KafkaPublisher(
                    **kafka,
                    client_id=settings.service_name,
                    publish_timeout=settings.publish_timeout_seconds,
                ) as publisher,
                AsyncExitStack() as resources,
                AsyncExitStack() as workers,
            ):
                platform = Platform(settings, db, publisher, metrics_registry(app), resources)
                adapters = definition.adapters(platform)
                if definition.startup is not None:
                    await definition.startup(adapters)
                attach_use_cases(app, definition.use_cases(adapters))
                if definition.projection is not None:
                    consumer = _consumer(platform, definition.projection(adapters))
                    app.state.consumer = consumer
                    await workers.enter_async_context(supervised_worker(app, "consumer", consumer))
                for name, worker in definition.workers(adapters).items():
                    await workers.enter_async_context(supervised_worker(app, name, worker))
                if getattr(app.state, "settle_heap", False):
                    settle_heap()
                yield
        finally:
            await client.close()

    return lifespan


def _consumer(platform: Platform, registry: HandlerRegistry) -> ConsumerRunner:
    # The topics of the events the projection handles (the credentials topic at least).
    topics = {CREDENTIALS_TOPIC} | {
        EVENT_MODELS[t].topic for t in registry.event_types if t in EVENT_MODELS
    }
    return credentials_consumer(
        platform.settings, registry, platform.publisher, topics=sorted(topics)
    )


def credentials_consumer(
    settings: ServiceSettings,
    registry: HandlerRegistry,
    dead_letters: RecordPublisher,
    *,
    group: str | None = None,
    max_records: int = 500,
    topics: Sequence[str] = (CREDENTIALS_TOPIC,),
    pattern: str | None = None,
    on_dead_letter: DeadLetterHook | None = None,
    fetch_bytes_per_partition: int | None = None,
    models: Mapping[str, type[EventData]] = EVENT_MODELS,
) -> ConsumerRunner:
    """A consumer of the credentials topic (or `topics`, or the deployed topics that match
    `pattern`) that retries storage outages forever.

    `group` defaults to the service's consumer group; `fetch_bytes_per_partition` raises what one
    fetch takes of each partition (aiokafka's default, 1 MiB, is ~250 signed credentials).
    """
    options: dict[str, Any] = {}
    if pattern:
        # Topics created after the start (a new institution's) are found within seconds.
        options["metadata_max_age_ms"] = 10_000
    if fetch_bytes_per_partition is not None:
        options["max_partition_fetch_bytes"] = fetch_bytes_per_partition
    return ConsumerRunner(
        **kafka_client_options(settings),
        group_id=group or settings.consumer_group,
        topics=[settings.topic(topic) for topic in topics],
        registry=registry,
        dead_letters=dead_letters,
        retry=RetryPolicy(retry_forever_on=RETRY_FOREVER_ON),
        client_id=settings.service_name,
        max_records=max_records,
        commit_interval=settings.consumer_commit_interval_seconds,
        pattern=pattern,
        on_dead_letter=on_dead_letter,
        consumer_options=options or None,
        models=models,
    )


def run_service(settings: ServiceSettings, build_app: Callable[[], FastAPI]) -> None:
    """Run a service process until SIGTERM/SIGINT: JSON logs, the app and its background work."""
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    app = build_app()
    # A process of its own: what start-up built stays for its life. (Not for apps that tests
    # start and stop in one process: frozen, their cycles would never be collected.)
    app.state.settle_heap = True
    asyncio.run(serve(app, settings))
