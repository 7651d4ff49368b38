"""connect() and the readiness probes against the real servers and against a closed port."""

import asyncio
import gc
import socket
import warnings
from collections.abc import AsyncIterator

import pytest
from aiokafka.errors import KafkaConnectionError
from pymongo.errors import ServerSelectionTimeoutError

from credreg_shared.settings import ServiceSettings
from credreg_shared.storage import connect, service_database
from credreg_shared.web import kafka_ready, mongo_ready

pytestmark = pytest.mark.integration


@pytest.fixture
def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def settings(mongodb_uri: str, kafka_bootstrap: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="storage-test",
        mongodb_uri=mongodb_uri,
        mongodb_database="credreg_storage_test",
        kafka_bootstrap_servers=kafka_bootstrap,
    )


async def test_connect_reaches_the_service_database(settings: ServiceSettings) -> None:
    client = connect(settings)
    try:
        assert (await client.admin.command("ping"))["ok"] == 1.0
        assert service_database(client, settings).name == "credreg_storage_test"
    finally:
        await client.close()


async def test_mongo_ready_passes_on_the_real_server(settings: ServiceSettings) -> None:
    client = connect(settings)
    try:
        await mongo_ready(client)()
    finally:
        await client.close()


@pytest.fixture
async def unreachable_mongo(closed_port: int) -> AsyncIterator[ServiceSettings]:
    yield ServiceSettings(mongodb_uri=f"mongodb://127.0.0.1:{closed_port}/")


async def probe_unreachable_mongo(settings: ServiceSettings) -> None:
    client = connect(settings, serverSelectionTimeoutMS=300)
    try:
        await mongo_ready(client, timeout=2.0)()
    finally:
        await client.close()


async def test_mongo_ready_fails_on_a_closed_port(unreachable_mongo: ServiceSettings) -> None:
    with pytest.raises(ServerSelectionTimeoutError):
        await probe_unreachable_mongo(unreachable_mongo)
    # PyMongo 4.20 leaks the socket of a monitor connect attempt that close() cancels
    # (pool_shared._async_create_connection closes it on OSError only). Finalise it here, once
    # the client and its cancelled tasks are unreachable, rather than in whichever test runs next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        await asyncio.sleep(0.2)
        gc.collect()


async def test_kafka_ready_passes_on_the_real_broker(kafka_bootstrap: str) -> None:
    await kafka_ready(kafka_bootstrap)()


async def test_kafka_ready_fails_on_a_closed_port(closed_port: int) -> None:
    with pytest.raises(KafkaConnectionError):
        await kafka_ready(f"127.0.0.1:{closed_port}", timeout=1.0)()
