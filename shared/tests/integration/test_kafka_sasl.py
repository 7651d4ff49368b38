"""The Kafka clients authenticate for real: a broker of its own with a SASL_PLAINTEXT listener.

The local launcher (deploy/local/infra.py, CREDREG_KAFKA_SASL_PORT) starts a separate one-node
broker for this module in a temporary folder, with PLAIN and SCRAM-SHA-512 on its SASL listener,
and stops and deletes it afterwards. Through that listener only: topics are created, events
published, consumed by a consumer runner, and listed by `credreg dlq`; a wrong password and an
unauthenticated client are refused.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaError
from typer.testing import CliRunner

from credreg_cli.main import app as cli
from credreg_shared import testing
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.events.models import ApiKeyRevoked
from credreg_shared.events.topics import dlq_topic
from credreg_shared.messaging import HandlerRegistry, KafkaPublisher, kafka_client_options
from credreg_shared.runtime import credentials_consumer, ensure_service_topics
from credreg_shared.settings import ServiceSettings
from credreg_shared.web import kafka_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[3]
LAUNCHER = REPO / "deploy" / "local" / "infra.py"
sys.path.insert(0, str(LAUNCHER.parent))
from service_processes import free_port  # noqa: E402

USER, PASSWORD = "credreg-local", "credreg-local-sasl-password"  # the launcher's SASL user


@pytest.fixture(scope="module")
def sasl_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of this module's own, whose SASL_PLAINTEXT listener is what the tests use."""
    sasl_port = free_port()
    env = {
        **os.environ,
        "CREDREG_INFRA_DIR": str(tmp_path_factory.mktemp("sasl-broker")),
        "CREDREG_KAFKA_PORT": str(free_port()),
        "CREDREG_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CREDREG_KAFKA_SASL_PORT": str(sasl_port),
    }
    command = [sys.executable, str(LAUNCHER)]
    try:
        started = subprocess.run(
            [*command, "up", "--only", "kafka"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"KAFKA_SASL_BOOTSTRAP_SERVERS=127.0.0.1:{sasl_port}" in started.stdout
        yield f"127.0.0.1:{sasl_port}"
    finally:
        subprocess.run(
            [*command, "down", "--only", "kafka"], env=env, capture_output=True, timeout=60
        )


def _settings(bootstrap: str, mechanism: str, password: str = PASSWORD, **more: Any) -> Any:
    return ServiceSettings(
        kafka_bootstrap_servers=bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username=USER,
        kafka_sasl_password=password,
        **more,
    )


def _event(n: int) -> Envelope:
    return new_envelope(
        ApiKeyRevoked(
            institution_id="did:web:uni.example.org", key_id=f"key-{n}", digest=f"{n:064x}"
        ),
        source="urn:credreg:test",
    )


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
async def test_every_client_works_through_the_sasl_listener(
    sasl_bootstrap: str, mechanism: str, unique_name: Any
) -> None:
    topic = unique_name("sasl")
    settings = _settings(sasl_bootstrap, mechanism, consumer_group=unique_name("group"))
    options = kafka_client_options(settings)

    await kafka_ready(**options).probe()
    created = await ensure_service_topics(settings, {topic: 2})
    assert created == sorted([topic, dlq_topic(topic)])

    sent = [_event(n) for n in range(3)]
    async with KafkaPublisher(**options, publish_timeout=30) as publisher:
        await publisher.publish_many(sent, topic=topic)

    seen: list[str] = []
    registry = HandlerRegistry()

    async def handle(envelope: Envelope) -> None:
        seen.append(str(envelope.id))

    registry.register(ApiKeyRevoked, handle)
    async with KafkaPublisher(**options) as dead_letters:
        runner = credentials_consumer(settings, registry, dead_letters, topics=[topic])
        task = asyncio.create_task(runner.run())
        try:
            await testing.eventually(
                lambda: asyncio.sleep(0, len(seen) >= len(sent) or None), "all consumed"
            )
        finally:
            runner.stop()
            await task
    assert sorted(seen) == sorted(str(e.id) for e in sent)

    del options["bootstrap_servers"]
    read = await testing.read_log(sasl_bootstrap, topic, 2, **options)
    assert sorted(str(envelope.id) for _key, envelope in read) == sorted(seen)
    await testing.delete_topics(sasl_bootstrap, [topic, dlq_topic(topic)], **options)


async def test_a_wrong_password_is_refused(sasl_bootstrap: str) -> None:
    wrong = _settings(sasl_bootstrap, "SCRAM-SHA-512", password="not-the-password")
    with pytest.raises((KafkaError, OSError)):
        await kafka_ready(**kafka_client_options(wrong)).probe()
    publisher = KafkaPublisher(**kafka_client_options(wrong))
    try:
        with pytest.raises((KafkaError, OSError)):
            await asyncio.wait_for(publisher.start(), 30)
    finally:
        await publisher.stop()


async def test_an_unauthenticated_client_gets_nothing_from_the_sasl_listener(
    sasl_bootstrap: str,
) -> None:
    plain = ServiceSettings(kafka_bootstrap_servers=sasl_bootstrap)  # PLAINTEXT, no SASL
    with pytest.raises((KafkaError, OSError, TimeoutError)):
        await kafka_ready(**kafka_client_options(plain)).probe()


async def test_credreg_dlq_lists_through_the_sasl_listener(
    sasl_bootstrap: str, unique_name: Any
) -> None:
    topic = unique_name("sasl-dlq")
    settings = _settings(sasl_bootstrap, "SCRAM-SHA-512")
    await ensure_service_topics(settings, {topic: 1})
    env = {
        "CREDREG_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CREDREG_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CREDREG_KAFKA_SASL_USERNAME": USER,
        "CREDREG_KAFKA_SASL_PASSWORD": PASSWORD,
        "COLUMNS": "300",  # the table shows the topic's whole name
    }
    command = ["dlq", "list", "--namespace", topic, "--bootstrap-servers", sasl_bootstrap]
    listed = await asyncio.to_thread(CliRunner().invoke, cli, command, env=env)
    assert listed.exit_code == 0, listed.output
    assert dlq_topic(topic) in listed.output
    refused = await asyncio.to_thread(
        CliRunner().invoke, cli, command, env={**env, "CREDREG_KAFKA_SASL_PASSWORD": "wrong-one"}
    )
    assert refused.exit_code == 2, refused.output
