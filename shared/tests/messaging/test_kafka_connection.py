"""Kafka security settings: validated together, and given to every aiokafka client credreg makes.

Unit tests: the clients are constructed for real (aiokafka checks their arguments) and inspected;
where a client would connect at once, its start is replaced by a stop before any I/O.
"""

from __future__ import annotations

import ast
import datetime
import os
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from credreg_shared.messaging import (
    HandlerRegistry,
    InMemoryPublisher,
    KafkaPublisher,
    kafka_client_options,
    topics_admin,
)
from credreg_shared.runtime import credentials_consumer, ensure_service_topics
from credreg_shared.settings import ServiceSettings
from credreg_shared.web import readiness

pytestmark = pytest.mark.timeout(30)

REPO = Path(__file__).resolve().parents[3]
SASL = {
    "CREDREG_KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9093,kafka-1:9093",
    "CREDREG_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "CREDREG_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "CREDREG_KAFKA_SASL_USERNAME": "credreg-issuer",
    "CREDREG_KAFKA_SASL_PASSWORD": "s3cr3t-from-the-kafkauser",
}
SECURITY_ATTRIBUTES = (
    "_security_protocol",
    "_sasl_mechanism",
    "_sasl_plain_username",
    "_sasl_plain_password",
    "_ssl_context",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CREDREG_"):
            monkeypatch.delenv(name)


def settings_from(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> ServiceSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServiceSettings()


@pytest.fixture
def sasl_settings(monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    return settings_from(monkeypatch, SASL)


def security_of(client: AIOKafkaClient) -> dict[str, Any]:
    """What an aiokafka client (inside a producer, consumer or admin client) will connect with."""
    found = {name: getattr(client, name) for name in SECURITY_ATTRIBUTES}
    found["bootstrap_servers"] = client._bootstrap_servers
    return found


EXPECTED_SASL = {
    "bootstrap_servers": "kafka-0:9093,kafka-1:9093",
    "_security_protocol": "SASL_PLAINTEXT",
    "_sasl_mechanism": "SCRAM-SHA-512",
    "_sasl_plain_username": "credreg-issuer",
    "_sasl_plain_password": "s3cr3t-from-the-kafkauser",
    "_ssl_context": None,
}


# --- settings and the helper ---------------------------------------------------------------


def test_the_defaults_are_todays_unauthenticated_local_broker() -> None:
    settings = ServiceSettings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_sasl_mechanism is None
    assert settings.kafka_sasl_password is None
    assert settings.kafka_ssl_cafile is None
    assert settings.topic_replication_factor == 1
    # Exactly what aiokafka assumes without them: nothing else is passed.
    assert kafka_client_options(settings) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_settings_become_sasl_client_options(sasl_settings: ServiceSettings) -> None:
    assert kafka_client_options(sasl_settings) == {
        "bootstrap_servers": "kafka-0:9093,kafka-1:9093",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "credreg-issuer",
        "sasl_plain_password": "s3cr3t-from-the-kafkauser",
    }
    assert "s3cr3t" not in repr(sasl_settings)


def test_names_are_case_insensitive_and_blank_values_mean_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(
        monkeypatch,
        {
            "CREDREG_KAFKA_SECURITY_PROTOCOL": "plaintext",
            "CREDREG_KAFKA_SASL_MECHANISM": "",
            "CREDREG_KAFKA_SASL_USERNAME": "",
            "CREDREG_KAFKA_SASL_PASSWORD": "",
            "CREDREG_KAFKA_SSL_CAFILE": "",
        },
    )
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_sasl_mechanism is None
    assert settings.kafka_sasl_password is None
    assert settings.kafka_ssl_cafile is None
    monkeypatch.setenv("CREDREG_KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("CREDREG_KAFKA_SASL_MECHANISM", "scram-sha-256")
    monkeypatch.setenv("CREDREG_KAFKA_SASL_USERNAME", "u")
    monkeypatch.setenv("CREDREG_KAFKA_SASL_PASSWORD", "a-real-password")
    settings = ServiceSettings()
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-256"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CREDREG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "SASL_SSL authenticates with SASL: set CREDREG_KAFKA_SASL_MECHANISM, "
            "CREDREG_KAFKA_SASL_USERNAME, CREDREG_KAFKA_SASL_PASSWORD",
        ),
        (
            {**SASL, "CREDREG_KAFKA_SASL_PASSWORD": ""},
            "SASL_PLAINTEXT authenticates with SASL: set CREDREG_KAFKA_SASL_PASSWORD",
        ),
        (
            {**SASL, "CREDREG_KAFKA_SASL_MECHANISM": ""},
            "set CREDREG_KAFKA_SASL_MECHANISM",
        ),
        (
            {**SASL, "CREDREG_KAFKA_SASL_USERNAME": " "},
            "set CREDREG_KAFKA_SASL_USERNAME",
        ),
        (
            {**SASL, "CREDREG_KAFKA_SASL_PASSWORD": "changeme"},
            "CREDREG_KAFKA_SASL_PASSWORD is a placeholder value",
        ),
        (
            {**SASL, "CREDREG_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
            "CREDREG_KAFKA_SASL_MECHANISM, CREDREG_KAFKA_SASL_USERNAME, "
            "CREDREG_KAFKA_SASL_PASSWORD given, but CREDREG_KAFKA_SECURITY_PROTOCOL=PLAINTEXT "
            "does not authenticate with SASL",
        ),
        (
            {"CREDREG_KAFKA_SECURITY_PROTOCOL": "SSL", "CREDREG_KAFKA_SASL_USERNAME": "u"},
            "CREDREG_KAFKA_SASL_USERNAME given, but CREDREG_KAFKA_SECURITY_PROTOCOL=SSL",
        ),
        (
            {**SASL, "CREDREG_KAFKA_SSL_CAFILE": "/etc/credreg/kafka-ca/ca.crt"},
            "CREDREG_KAFKA_SSL_CAFILE given, but CREDREG_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT "
            "does not use TLS",
        ),
        ({"CREDREG_KAFKA_SECURITY_PROTOCOL": "SASL"}, "'SASL_PLAINTEXT'"),
        ({**SASL, "CREDREG_KAFKA_SASL_MECHANISM": "GSSAPI"}, "'SCRAM-SHA-512'"),
        ({"CREDREG_TOPIC_REPLICATION_FACTOR": "0"}, "greater than or equal to 1"),
    ],
)
def test_settings_that_do_not_fit_together_are_refused_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_from(monkeypatch, env)
    assert message in str(refused.value)
    assert "s3cr3t" not in str(refused.value)


def test_the_replication_factor_of_created_topics_is_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(monkeypatch, {"CREDREG_TOPIC_REPLICATION_FACTOR": "3"})
    assert settings.topic_replication_factor == 3


def _write_ca(path: Path) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster-ca")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate


def test_sasl_ssl_verifies_the_brokers_against_the_given_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = _write_ca(tmp_path / "ca.crt")
    settings = settings_from(
        monkeypatch,
        {
            **SASL,
            "CREDREG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CREDREG_KAFKA_SSL_CAFILE": str(tmp_path / "ca.crt"),
        },
    )
    options = kafka_client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    serials = [int(c["serialNumber"], 16) for c in context.get_ca_certs()]
    assert serials == [ca.serial_number]


def test_ssl_without_a_ca_file_trusts_the_systems_cas(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch, {"CREDREG_KAFKA_SECURITY_PROTOCOL": "SSL"})
    options = kafka_client_options(settings)
    assert set(options) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_a_missing_ca_file_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "absent" / "ca.crt"
    settings = settings_from(
        monkeypatch,
        {"CREDREG_KAFKA_SECURITY_PROTOCOL": "SSL", "CREDREG_KAFKA_SSL_CAFILE": str(missing)},
    )
    with pytest.raises(ValueError, match=f"CREDREG_KAFKA_SSL_CAFILE={missing}: cannot load"):
        kafka_client_options(settings)


# --- every client the shared code makes -----------------------------------------------------


class Stop(Exception):
    """Raised where a spied client would start talking to a broker."""


async def test_the_publisher_producer_gets_the_security_options(
    sasl_settings: ServiceSettings,
) -> None:
    publisher = KafkaPublisher(**kafka_client_options(sasl_settings), client_id="issuer")
    try:
        assert security_of(publisher._producer.client) == EXPECTED_SASL
    finally:
        await publisher.stop()  # never started: only closes the client


async def test_the_consumer_runner_consumer_gets_the_security_options(
    sasl_settings: ServiceSettings,
) -> None:
    runner = credentials_consumer(
        sasl_settings, HandlerRegistry(), InMemoryPublisher(), pattern=r"credreg\..*"
    )
    consumer = runner.new_consumer()
    try:
        assert security_of(consumer._client) == EXPECTED_SASL
        assert consumer._group_id == sasl_settings.consumer_group
        assert consumer._client._metadata_max_age_ms == 10_000  # its own options still apply
    finally:
        await consumer.stop()


async def test_run_consumes_with_the_consumer_it_makes(
    sasl_settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[AIOKafkaConsumer] = []

    async def refuse_start(self: AIOKafkaConsumer) -> None:
        started.append(self)
        raise Stop

    monkeypatch.setattr(AIOKafkaConsumer, "start", refuse_start)
    runner = credentials_consumer(sasl_settings, HandlerRegistry(), InMemoryPublisher())
    with pytest.raises(Stop):
        await runner.run()
    [consumer] = started
    assert security_of(consumer._client) == EXPECTED_SASL
    await consumer.stop()


class SpyAdmin(AIOKafkaAdminClient):  # type: ignore[misc]
    """A real admin client (its arguments checked by aiokafka) that records what it would create."""

    made: list[SpyAdmin] = []

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.created: list[NewTopic] = []
        SpyAdmin.made.append(self)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        await self._client.close()

    async def list_topics(self) -> list[str]:
        return []

    async def create_topics(self, new_topics: list[NewTopic], **_kw: Any) -> Any:
        self.created.extend(new_topics)
        raise Stop


@pytest.fixture
def spy_admin(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[SpyAdmin]]:
    SpyAdmin.made = []
    monkeypatch.setattr(topics_admin, "AIOKafkaAdminClient", SpyAdmin)
    yield SpyAdmin


async def test_topics_a_service_creates_get_its_credentials_and_replication_factor(
    monkeypatch: pytest.MonkeyPatch, spy_admin: type[SpyAdmin]
) -> None:
    settings = settings_from(monkeypatch, {**SASL, "CREDREG_TOPIC_REPLICATION_FACTOR": "3"})
    with pytest.raises(Stop):
        await ensure_service_topics(settings, {"credreg.credentials": 12})
    [admin] = spy_admin.made
    assert security_of(admin._client) == EXPECTED_SASL
    assert {(t.name, t.num_partitions, t.replication_factor) for t in admin.created} == {
        ("credreg.credentials", 12, 3),
        ("credreg.credentials.dlq", 12, 3),
    }


async def test_by_default_created_topics_keep_one_replica_as_before(
    spy_admin: type[SpyAdmin],
) -> None:
    with pytest.raises(Stop):
        await ensure_service_topics(ServiceSettings(), {"t": 2}, with_dlq=False)
    [admin] = spy_admin.made
    assert security_of(admin._client)["_security_protocol"] == "PLAINTEXT"
    assert [(t.name, t.replication_factor) for t in admin.created] == [("t", 1)]


async def test_the_readiness_probe_connects_with_the_security_options(
    sasl_settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[AIOKafkaClient] = []

    async def refuse_bootstrap(self: AIOKafkaClient) -> None:
        probed.append(self)
        raise Stop

    monkeypatch.setattr(readiness.AIOKafkaClient, "bootstrap", refuse_bootstrap)
    check = readiness.kafka_ready(**kafka_client_options(sasl_settings))
    with pytest.raises(Stop):
        await check.probe()
    [client] = probed
    assert security_of(client) == EXPECTED_SASL


# --- nothing in the product connects another way ---------------------------------------------

PRODUCT_SOURCES = [
    REPO / "shared" / "src",
    REPO / "cli" / "src",
    *sorted((REPO / "services").glob("*/src")),
    REPO / "deploy" / "local",
]
AIOKAFKA_CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "AIOKafkaClient"}
# The launcher's probe of the broker it starts itself (always PLAINTEXT on loopback).
LOCAL_BROKER_PROBES = {(REPO / "deploy" / "local" / "infra.py", "AIOKafkaClient")}
HELPER = REPO / "shared" / "src" / "credreg_shared" / "messaging" / "connection.py"


def _product_modules() -> Iterator[tuple[Path, ast.Module]]:
    for root in PRODUCT_SOURCES:
        assert root.is_dir(), root
        for path in sorted(root.rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def test_no_product_code_reads_the_bootstrap_servers_but_the_helper() -> None:
    """A client built from `settings.kafka_bootstrap_servers` alone would skip SASL and TLS."""
    readers = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path, module in _product_modules()
        if path != HELPER
        for node in ast.walk(module)
        if isinstance(node, ast.Attribute) and node.attr == "kafka_bootstrap_servers"
    ]
    assert readers == [], f"use **kafka_client_options(settings) instead: {readers}"


def test_every_aiokafka_client_the_product_makes_is_given_its_options() -> None:
    """Every aiokafka client constructor in the product's code gets a ``**`` of options (the
    helper's, or a parameter that carries them), never bare bootstrap servers."""
    found, bare = [], []
    for path, module in _product_modules():
        for node in ast.walk(module):
            if not isinstance(node, ast.Call) or _called_name(node) not in AIOKAFKA_CLIENTS:
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            found.append(where)
            if (path, _called_name(node)) in LOCAL_BROKER_PROBES:
                continue
            if not any(keyword.arg is None for keyword in node.keywords):
                bare.append(where)
    assert len(found) >= 8, found  # producer, consumers, admin clients, probes: the scan works
    assert bare == [], f"aiokafka clients made without the security options: {bare}"
