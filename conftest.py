"""Test wiring shared by every test folder: real Kafka and MongoDB-wire endpoints, isolated names.

Endpoints, in order of preference:
1. ``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI`` from the environment (``make test`` sets them);
2. testcontainers, when a Docker daemon answers a ping;
3. the project's own launcher (``deploy/local/infra.py``) on private test ports, stopped again
   at the end of the session if this session started it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from credreg_shared import testing
from credreg_shared.events import CREDENTIALS_TOPIC, dlq_topic
from credreg_shared.messaging import ensure_topics
from credreg_shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parent
LAUNCHER = REPO / "deploy" / "local" / "infra.py"
S = TypeVar("S", bound=ServiceSettings)
LAUNCHER_ENV = {
    "CREDREG_INFRA_DIR": str(REPO / ".local" / "pytest-infra"),
    "CREDREG_KAFKA_PORT": "19192",
    "CREDREG_KAFKA_CONTROLLER_PORT": "19193",
    "CREDREG_MONGO_PORT": "37117",
}


@dataclass(frozen=True)
class Endpoints:
    """Where the real Kafka broker and MongoDB-wire server of this test session listen."""

    kafka_bootstrap: str
    mongodb_uri: str
    provider: str


def docker_daemon_answers() -> bool:
    """True only when a Docker daemon answers a ping (a docker binary alone is not enough)."""
    # A failed ping leaves the SDK's socket to the garbage collector; finalise it here, where
    # its ResourceWarning is expected, rather than in whichever test runs next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker  # type: ignore[import-untyped]

            client = docker.from_env(timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - no daemon, no socket, no SDK: all mean "no Docker"
            return False
        finally:
            gc.collect()


@contextlib.contextmanager
def testcontainers_endpoints() -> Iterator[Endpoints]:
    """Kafka and MongoDB in containers, for machines with a Docker engine."""
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with KafkaContainer().with_kraft() as kafka, MongoDbContainer("mongo:7") as mongo:
        yield Endpoints(kafka.get_bootstrap_server(), mongo.get_connection_url(), "testcontainers")


@contextlib.contextmanager
def launcher_endpoints() -> Iterator[Endpoints]:
    """Start the local launcher on test ports; stop it afterwards if this session started it."""
    env = {**os.environ, **LAUNCHER_ENV}
    already_up = (
        subprocess.run(
            [sys.executable, str(LAUNCHER), "status"], env=env, capture_output=True, check=False
        ).returncode
        == 0
    )
    subprocess.run([sys.executable, str(LAUNCHER), "up"], env=env, check=True)
    try:
        yield Endpoints(
            f"127.0.0.1:{LAUNCHER_ENV['CREDREG_KAFKA_PORT']}",
            f"mongodb://127.0.0.1:{LAUNCHER_ENV['CREDREG_MONGO_PORT']}/",
            "local launcher",
        )
    finally:
        if not already_up:
            subprocess.run([sys.executable, str(LAUNCHER), "down", "--wipe"], env=env, check=False)


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    """The session's real Kafka and MongoDB-wire endpoints."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    mongo = os.environ.get("MONGODB_URI")
    if kafka and mongo:
        yield Endpoints(kafka, mongo, "environment")
    elif docker_daemon_answers():
        with testcontainers_endpoints() as found:
            yield found
    else:
        with launcher_endpoints() as found:
            yield found


@pytest.fixture(scope="session")
def kafka_bootstrap(endpoints: Endpoints) -> str:
    """Bootstrap servers of the real Kafka broker."""
    return endpoints.kafka_bootstrap


@pytest.fixture(scope="session")
def mongodb_uri(endpoints: Endpoints) -> str:
    """Connection string of the real MongoDB-wire server."""
    return endpoints.mongodb_uri


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Names that no other test uses: prefix, test name and a random suffix."""
    test = "".join(c if c.isalnum() else "-" for c in request.node.name)[:30].strip("-")

    def make(prefix: str) -> str:
        return f"{prefix}-{test}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
async def new_topic(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Create topics private to this test; returns an async factory ``(prefix, partitions)``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def create(prefix: str = "t", partitions: int = 3) -> str:
        name = unique_name(prefix)
        await admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
        created.append(name)
        return name

    try:
        yield create
    finally:
        if created:
            with contextlib.suppress(Exception):
                await admin.delete_topics(created)
        await admin.close()


@pytest.fixture
async def mongo_client(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    """An async PyMongo client for the real server."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongodb_uri, serverSelectionTimeoutMS=5000
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def mongo_db(
    mongo_client: AsyncMongoClient[dict[str, object]], unique_name: Callable[[str], str]
) -> AsyncIterator[AsyncDatabase[dict[str, object]]]:
    """A database private to this test, dropped afterwards."""
    name = unique_name("db").replace("-", "_")[:60]
    try:
        yield mongo_client[name]
    finally:
        await mongo_client.drop_database(name)


@pytest.fixture
async def service_settings(
    endpoints: Endpoints,
    mongo_db: AsyncDatabase[dict[str, object]],
    unique_name: Callable[[str], str],
) -> AsyncIterator[testing.SettingsFactory]:
    """``await service_settings(RegistrySettings, **overrides)``: settings private to this test.

    The real endpoints, this test's database, a topic namespace and consumer group of its own;
    the credentials topic exists on return, and every topic is deleted afterwards.
    """
    topics: dict[str, None] = {}  # ordered and without repeats: Kafka refuses a name twice

    async def make(kind: type[S], **overrides: Any) -> S:
        settings = testing.integration_settings(
            kind,
            kafka_bootstrap=endpoints.kafka_bootstrap,
            mongodb_uri=endpoints.mongodb_uri,
            database=mongo_db.name,
            name=unique_name("ns"),
            **overrides,
        )
        topic = settings.topic(CREDENTIALS_TOPIC)
        await ensure_topics(endpoints.kafka_bootstrap, {topic: settings.topic_partitions})
        topics.update(dict.fromkeys([topic, dlq_topic(topic)]))
        return settings

    try:
        yield make
    finally:
        if topics:
            await testing.delete_topics(endpoints.kafka_bootstrap, topics)
