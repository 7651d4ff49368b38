"""The chassis over the real Kafka and MongoDB: adapters, consumer and workers start and stop."""

from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import APIRouter

from credreg_shared import testing
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging import EventPublisher, HandlerRegistry
from credreg_shared.runtime import Platform, ServiceDefinition, build_service_app
from credreg_shared.settings import ServiceSettings
from credreg_shared.storage import MongoIdempotentCollection
from credreg_shared.storage.ports import IdempotentCollection
from credreg_shared.workers import StoppableLoop

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Adapters:
    """The example service's ports."""

    seen: IdempotentCollection
    publisher: EventPublisher


@dataclass(frozen=True)
class ExampleApi:
    """Stands for a service's ``api`` module (no routes of its own)."""

    TITLE: str = "example"
    DESCRIPTION: str = "the chassis under test"
    router: APIRouter = field(default_factory=APIRouter)
    ERROR_STATUSES: dict[type[Exception], int] = field(default_factory=dict)


class Ticker(StoppableLoop):
    """A worker that counts its rounds until stopped."""

    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0
        self.returned = False

    async def run(self) -> None:
        while not self.stopping:
            self.rounds += 1
            await self.pause(0.02)
        self.returned = True


async def test_the_lifespan_runs_the_projection_and_workers_and_stops_them(
    service_settings: testing.SettingsFactory,
) -> None:
    settings: ServiceSettings = await service_settings(ServiceSettings, service_name="example")
    ticker = Ticker()
    built: list[Adapters] = []

    def real_adapters(platform: Platform) -> Adapters:
        adapters = Adapters(MongoIdempotentCollection(platform.db["seen"]), platform.publisher)
        built.append(adapters)
        return adapters

    def projection(adapters: Adapters) -> HandlerRegistry:
        async def on_revoked(envelope: Envelope) -> None:
            await adapters.seen.insert_once({"_id": envelope.id})

        registry = HandlerRegistry()
        registry.register(models.CredentialRevoked, on_revoked)
        return registry

    definition = ServiceDefinition(
        api=ExampleApi(),
        adapters=real_adapters,
        use_cases=lambda adapters: [],
        projection=projection,
        workers=lambda adapters: {"ticker": ticker},
    )
    app = build_service_app(definition, settings)
    envelope = samples.sample_envelope(samples.every_event_kind()[1])
    assert isinstance(envelope.data, models.CredentialRevoked)

    async with testing.serving(app) as client:
        assert (await client.get("/readyz")).json() == {"status": "ok"}
        [adapters] = built
        await adapters.publisher.publish(envelope, topic=settings.topic("credreg.credentials"))

        async def recorded() -> dict[str, Any] | None:
            return await adapters.seen.get(envelope.id)

        await testing.eventually(recorded, "the consumer ran the handler")
        await testing.eventually(lambda: _positive(ticker.rounds), "the worker runs")
        consumer = app.state.consumer

    assert ticker.returned, "the worker was stopped by its event, not cancelled"
    assert consumer.stopping


async def _positive(value: int) -> int | None:
    return value if value > 0 else None
