"""Test helpers for code that runs over real Kafka: wait for a condition, read a topic, clean up.

Shared by every service's integration tests and the end-to-end tests, so each waits and reads
the log the same way. Nothing in the services imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from credreg_shared.events.cloudevents import Envelope, from_record
from credreg_shared.settings import ServiceSettings

T = TypeVar("T")
S = TypeVar("S", bound=ServiceSettings)

SettingsFactory = Callable[..., Awaitable[Any]]
"""The root conftest's ``service_settings`` fixture: ``await factory(Kind, **overrides)``."""

PATIENCE = 60.0
"""Seconds before a wait is declared stuck; a guard against hangs, not a timing assertion."""


def integration_settings(
    kind: type[S],
    *,
    kafka_bootstrap: str,
    mongodb_uri: str,
    database: str,
    name: str,
    **overrides: Any,
) -> S:
    """A service's settings under test: the real endpoints; its own database, topics and group."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka_bootstrap,
        "mongodb_uri": mongodb_uri,
        "mongodb_database": database,
        "topic_namespace": f"{name}.",
        "consumer_group": f"{name}-group",
        "log_json": False,
        **overrides,
    }
    return kind(**values)


@contextlib.asynccontextmanager
async def serving(
    app: FastAPI, base_url: str = "http://service"
) -> AsyncIterator[httpx.AsyncClient]:
    """Run `app`'s lifespan (adapters, consumer, workers) with an HTTP client for its routes."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, *, patience: float = PATIENCE
) -> T:
    """Poll `probe` until it returns something truthy; fail after `patience` seconds.

    The probe must return a value only once the awaited state holds (None otherwise): a
    probe that returns the current state, e.g. a status string, is truthy before the state
    it is meant to wait for.
    """
    last: T | None = None
    try:
        async with asyncio.timeout(patience):
            while True:
                last = await probe()
                if last:
                    return last
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"never happened: {what} (last: {last!r})") from None


async def finishes(task: asyncio.Future[Any], seconds: float = 10.0) -> bool:
    """Whether `task` ends within `seconds` (it is left running otherwise); a hang guard."""
    try:
        async with asyncio.timeout(seconds):
            await asyncio.wait({task})
    except TimeoutError:
        return False
    return True


def load_script(path: Path, name: str) -> ModuleType:
    """A script (a file, not a package module, e.g. a benchmark driver) loaded as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def read_log(
    bootstrap_servers: str, topic: str, partitions: int, **client_options: Any
) -> list[tuple[bytes | None, Envelope]]:
    """Every record now on `topic`, up to its current end offsets, decoded: (key, envelope)."""
    return [
        (r.key, from_record(r.key, r.value, r.headers))
        for r in await read_records(bootstrap_servers, topic, partitions, **client_options)
    ]


async def read_records(
    bootstrap_servers: str, topic: str, partitions: int, **client_options: Any
) -> list[Any]:
    """Every record now on `topic`, up to its current end offsets, as the broker has it.

    `client_options`: security options (`kafka_client_options` without the bootstrap servers).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options,
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        found: list[Any] = []

        async def read_to_the_end() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(
                    r for r in records if r.offset < ends[TopicPartition(r.topic, r.partition)]
                )
            positions = {tp: await consumer.position(tp) for tp in ends}
            return all(positions[tp] >= end for tp, end in ends.items())

        await eventually(read_to_the_end, f"read {topic} to its end offsets")
        return found
    finally:
        await consumer.stop()


async def delete_topics(
    bootstrap_servers: str, topics: Iterable[str], **client_options: Any
) -> None:
    """Remove a test's topics; a topic already gone is fine (cleanup must not fail a test)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(list(topics))
    finally:
        await admin.close()
