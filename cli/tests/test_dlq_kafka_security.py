"""`credreg dlq` connects as the services do: the CREDREG_KAFKA_* security settings reach every
Kafka client it makes (admin client, consumer, producer), and settings that do not fit together
stop it before it connects. The aiokafka clients are real; only their network steps are stubbed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from typer.testing import CliRunner

from credreg_cli import dlq_command
from credreg_cli.main import app

pytestmark = pytest.mark.timeout(30)

SASL = {
    "CREDREG_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "CREDREG_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "CREDREG_KAFKA_SASL_USERNAME": "credreg-operator",
    "CREDREG_KAFKA_SASL_PASSWORD": "operator-password-from-its-secret",
}
DLQ = "credreg.credentials.dlq"


def _security(client: Any) -> tuple[Any, ...]:
    return (
        client._bootstrap_servers,
        client._security_protocol,
        client._sasl_mechanism,
        client._sasl_plain_username,
        client._sasl_plain_password,
    )


EXPECTED = (
    "kafka:9092",
    "SASL_PLAINTEXT",
    "SCRAM-SHA-512",
    "credreg-operator",
    "operator-password-from-its-secret",
)


class Made:
    """The clients the command made, in order."""

    def __init__(self) -> None:
        self.clients: list[tuple[str, Any]] = []


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Iterator[Made]:
    """Admin client and consumer that answer from memory (a DLQ with nothing waiting); the
    producer fails to connect, as a broker that refused it would."""
    for name in [n for n in os.environ if n.startswith("CREDREG_")]:
        monkeypatch.delenv(name)
    record = Made()

    class Admin(AIOKafkaAdminClient):  # type: ignore[misc]
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            record.clients.append(("admin", self._client))

        async def start(self) -> None:
            pass

        async def close(self) -> None:
            await self._client.close()

        async def list_topics(self) -> list[str]:
            return [DLQ]

        async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
            return [{"topic": t, "error_code": 0, "partitions": [{"partition": 0}]} for t in topics]

    class Consumer(AIOKafkaConsumer):  # type: ignore[misc]
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            record.clients.append(("consumer", self._client))

        async def start(self) -> None:
            pass

        def assign(self, partitions: list[TopicPartition]) -> None:
            pass

        async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[Any, int]:
            return dict.fromkeys(tps, 0)

        async def end_offsets(self, tps: list[TopicPartition]) -> dict[Any, int]:
            return dict.fromkeys(tps, 0)

        async def committed(self, tp: TopicPartition) -> int | None:
            return None

        def seek(self, tp: TopicPartition, offset: int) -> None:
            pass

        async def position(self, tp: TopicPartition) -> int:
            return 0

    class Producer(AIOKafkaProducer):  # type: ignore[misc]
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            record.clients.append(("producer", self.client))

        async def start(self) -> None:
            await self.stop()  # as a failed start leaves it: closed
            raise KafkaConnectionError("refused")

    monkeypatch.setattr(dlq_command, "AIOKafkaAdminClient", Admin)
    monkeypatch.setattr(dlq_command, "AIOKafkaConsumer", Consumer)
    monkeypatch.setattr(dlq_command, "AIOKafkaProducer", Producer)
    yield record


def test_list_connects_every_client_with_the_sasl_settings(made: Made) -> None:
    result = CliRunner().invoke(app, ["dlq", "list", "--bootstrap-servers", "kafka:9092"], env=SASL)
    assert result.exit_code == 0, result.output
    assert DLQ in result.output
    assert [kind for kind, _ in made.clients] == ["admin", "admin", "consumer"]
    assert all(_security(client) == EXPECTED for _, client in made.clients)


def test_redrive_connects_its_producer_with_the_sasl_settings_too(made: Made) -> None:
    result = CliRunner().invoke(
        app,
        ["dlq", "redrive", "credreg.credentials", "--bootstrap-servers", "kafka:9092"],
        env=SASL,
    )
    assert result.exit_code == 2, result.output  # the stubbed producer's refused connection
    assert "Kafka at kafka:9092" in result.output
    assert [kind for kind, _ in made.clients] == ["admin", "consumer", "producer"]
    assert all(_security(client) == EXPECTED for _, client in made.clients)


def test_without_security_settings_it_connects_as_before(made: Made) -> None:
    result = CliRunner().invoke(app, ["dlq", "list", "--bootstrap-servers", "kafka:9092"])
    assert result.exit_code == 0, result.output
    assert {_security(client) for _, client in made.clients} == {
        ("kafka:9092", "PLAINTEXT", "PLAIN", None, None)  # aiokafka's defaults, unused
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {**SASL, "CREDREG_KAFKA_SASL_PASSWORD": ""},
            "SASL_PLAINTEXT authenticates with SASL: set CREDREG_KAFKA_SASL_PASSWORD",
        ),
        (
            {**SASL, "CREDREG_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
            "does not authenticate with SASL",
        ),
    ],
)
@pytest.mark.parametrize("command", [["dlq", "list"], ["dlq", "redrive", "credreg.credentials"]])
def test_settings_that_do_not_fit_together_stop_it_before_it_connects(
    made: Made, env: dict[str, str], message: str, command: list[str]
) -> None:
    result = CliRunner().invoke(app, [*command, "--bootstrap-servers", "kafka:9092"], env=env)
    assert result.exit_code == 2, result.output
    assert "credreg: Kafka settings:" in result.output and message in result.output
    assert "operator-password" not in result.output
    assert made.clients == []
