"""Readiness checks behind ``GET /readyz``: named async probes that return or raise."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pymongo
from aiokafka.client import AIOKafkaClient
from pymongo import AsyncMongoClient

DEFAULT_TIMEOUT_SECONDS = 2.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadinessCheck:
    """A named probe: ready when ``probe()`` returns within ``timeout`` seconds."""

    name: str
    probe: Callable[[], Awaitable[None]]
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    async def __call__(self) -> None:
        """Run the probe; raise when it fails or takes longer than the timeout."""
        async with asyncio.timeout(self.timeout):
            await self.probe()


@dataclass(frozen=True)
class CheckFailure:
    """Why one readiness check failed."""

    name: str
    error: str


async def failing_checks(checks: Sequence[ReadinessCheck]) -> list[CheckFailure]:
    """Run all checks concurrently; return the ones that failed, in the given order."""
    outcomes = await asyncio.gather(*(check() for check in checks), return_exceptions=True)
    failures = []
    for check, outcome in zip(checks, outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
        if isinstance(outcome, BaseException):
            logger.warning("readiness check %s failed: %r", check.name, outcome)
            failures.append(CheckFailure(check.name, describe(outcome)))
    return failures


def describe(error: BaseException) -> str:
    """What a client may learn about a probe failure: its kind, not its (internal) details."""
    return "timed out" if isinstance(error, TimeoutError) else type(error).__name__


def kafka_ready(
    bootstrap_servers: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, **client_options: Any
) -> ReadinessCheck:
    """Ready when a Kafka broker answers a metadata request."""
    request_timeout_ms = max(1, int(timeout * 1000))

    async def probe() -> None:
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=request_timeout_ms,
            client_id="credreg-readiness",
            **client_options,
        )
        try:
            await client.bootstrap()
        finally:
            await client.close()

    # The probe's own request timeout fires first; the outer timeout is a backstop.
    return ReadinessCheck("kafka", probe, timeout=timeout + 1.0)


def mongo_ready(
    client: AsyncMongoClient[Any], *, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> ReadinessCheck:
    """Ready when the MongoDB server answers a ping."""

    async def probe() -> None:
        # PyMongo's own deadline, not a cancellation: a cancelled connect leaks its socket.
        with pymongo.timeout(timeout):
            await client.admin.command("ping")

    return ReadinessCheck("mongodb", probe, timeout=timeout + 1.0)
