"""`credreg dlq`: naming, reading a dead letter's headers, and a broker that does not answer.
The commands over a real broker are tested in tests/integration/test_dlq_redrive.py."""

from __future__ import annotations

import socket

from aiokafka import ConsumerRecord
from typer.testing import CliRunner

from credreg_cli.dlq_command import _dead_letter, dead_letter_topic
from credreg_cli.main import app
from credreg_shared.messaging.dead_letters import dead_letter_headers


def test_a_topic_or_its_dead_letter_topic_names_the_dead_letter_topic() -> None:
    assert dead_letter_topic("credreg.credentials") == "credreg.credentials.dlq"
    assert dead_letter_topic("credreg.credentials.dlq") == "credreg.credentials.dlq"
    assert (
        dead_letter_topic("credreg.issuance-requests.demo-university")
        == "credreg.issuance-requests.demo-university.dlq"
    )


def _record(
    headers: list[tuple[str, bytes]], topic: str = "credreg.credentials.dlq"
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic, partition=2, offset=7, timestamp=0, timestamp_type=0, key=b"urn:uuid:1",
        value=b"{}", checksum=None, serialized_key_size=10, serialized_value_size=2,
        headers=headers,
    )  # fmt: skip


def test_a_dead_letter_is_read_from_the_headers_the_consumer_wrote() -> None:
    headers = dead_letter_headers(
        [("ce_type", b"org.credreg.credential.issued.v1"), ("ce_id", b"e-1")],
        error="boom",
        error_type="handler_failed.RuntimeError",
        topic="credreg.credentials",
        partition=1,
        offset=41,
        group_id="credreg-registry",
        attempts=5,
    )
    letter = _dead_letter(_record(headers))
    assert (letter.partition, letter.offset, letter.key) == (2, 7, "urn:uuid:1")
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "credreg.credentials",
        1,
        "41",
    )
    assert (letter.group, letter.error_type, letter.error) == (
        "credreg-registry",
        "handler_failed.RuntimeError",
        "boom",
    )
    assert letter.event_type == "org.credreg.credential.issued.v1"


def test_without_dead_letter_headers_the_source_is_the_topic_and_the_partition_the_keys() -> None:
    letter = _dead_letter(_record([], topic="credreg.issuance-requests.uni.dlq"))
    assert letter.source_topic == "credreg.issuance-requests.uni"
    assert letter.source_partition is None


def test_a_broker_that_does_not_answer_is_a_message_and_exit_code_2() -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for command in (["dlq", "list"], ["dlq", "redrive", "credreg.credentials"]):
        result = CliRunner().invoke(app, [*command, "--bootstrap-servers", f"127.0.0.1:{port}"])
        assert result.exit_code == 2, result.output
        assert f"Kafka at 127.0.0.1:{port}" in result.output


def test_the_commands_are_listed() -> None:
    result = CliRunner().invoke(app, ["dlq", "--help"])
    assert result.exit_code == 0
    assert "list" in result.output and "redrive" in result.output
