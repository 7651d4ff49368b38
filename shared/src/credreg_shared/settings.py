"""Environment-driven settings every credreg service extends (``CREDREG_*`` variables)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

INSTITUTION_DID = re.compile(r"did:(web|key):[A-Za-z0-9._:%-]*[A-Za-z0-9._%-]")
"""An institution id: a `did:web` (hosted) or a `did:key` (tests) DID."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "changethis", "change-me", "secret", "password", "placeholder", "todo", "xxx"}
)


def require_real_secret(value: SecretStr | None, *, field: str = "secret") -> SecretStr:
    """Return ``value`` unless it is missing, blank or a well-known placeholder."""
    if value is None:
        raise ValueError(f"{field} must be set")
    plain = value.get_secret_value().strip()
    if not plain:
        raise ValueError(f"{field} must not be empty")
    if plain.lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{field} is a placeholder value; set a real secret")
    return value


def _refuse_placeholder(value: SecretStr) -> SecretStr:
    return require_real_secret(value)


RealSecret = Annotated[SecretStr, AfterValidator(_refuse_placeholder)]
"""A ``SecretStr`` field type that refuses empty and placeholder values at start-up."""


KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


class KafkaSettings(BaseSettings):
    """How to reach and authenticate to Kafka: every service's, and the CLI's, Kafka clients.

    Turn them into aiokafka client options with
    `credreg_shared.messaging.connection.kafka_client_options` (never read them one by one).
    The defaults are a local, unauthenticated broker.
    """

    model_config = SettingsConfigDict(env_prefix="CREDREG_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    # SASL_PLAINTEXT and SASL_SSL need all three; the other protocols refuse them.
    kafka_sasl_mechanism: KafkaSaslMechanism | None = None
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr | None = Field(default=None, repr=False)
    # The CA that signed the brokers' certificates (SSL, SASL_SSL); unset: the system's CAs.
    kafka_ssl_cafile: Path | None = None

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_kafka_names(cls, value: object) -> object:
        return value.strip().upper() or None if isinstance(value, str) else value

    @field_validator("kafka_sasl_password", "kafka_ssl_cafile", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # A ConfigMap or Secret lists every setting; an empty value there means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _kafka_security_is_consistent(self) -> Self:
        protocol = self.kafka_security_protocol
        sasl_given = [
            name
            for name, given in (
                ("CREDREG_KAFKA_SASL_MECHANISM", self.kafka_sasl_mechanism is not None),
                ("CREDREG_KAFKA_SASL_USERNAME", bool(self.kafka_sasl_username.strip())),
                ("CREDREG_KAFKA_SASL_PASSWORD", self.kafka_sasl_password is not None),
            )
            if given
        ]
        if protocol in SASL_PROTOCOLS:
            missing = [
                name
                for name in (
                    "CREDREG_KAFKA_SASL_MECHANISM",
                    "CREDREG_KAFKA_SASL_USERNAME",
                    "CREDREG_KAFKA_SASL_PASSWORD",
                )
                if name not in sasl_given
            ]
            if missing:
                raise ValueError(
                    f"CREDREG_KAFKA_SECURITY_PROTOCOL={protocol} authenticates with SASL: "
                    f"set {', '.join(missing)}"
                )
            require_real_secret(self.kafka_sasl_password, field="CREDREG_KAFKA_SASL_PASSWORD")
        elif sasl_given:
            # Refused rather than ignored: the client would connect unauthenticated.
            raise ValueError(
                f"{', '.join(sasl_given)} given, but CREDREG_KAFKA_SECURITY_PROTOCOL={protocol} "
                "does not authenticate with SASL: use SASL_SSL (or SASL_PLAINTEXT)"
            )
        if self.kafka_ssl_cafile is not None and protocol not in TLS_PROTOCOLS:
            raise ValueError(
                f"CREDREG_KAFKA_SSL_CAFILE given, but CREDREG_KAFKA_SECURITY_PROTOCOL={protocol} "
                "does not use TLS: use SSL or SASL_SSL"
            )
        return self


class ServiceSettings(KafkaSettings):
    """Settings shared by all services; each service subclasses it with its own defaults."""

    model_config = SettingsConfigDict(env_prefix="CREDREG_", extra="ignore")

    service_name: str = "credreg"
    # The URI may carry credentials: keep it out of repr() and therefore out of logs.
    mongodb_uri: str = Field(default="mongodb://127.0.0.1:27017/", repr=False)
    mongodb_database: str = "credreg"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    log_level: LogLevel = "INFO"
    log_json: bool = True
    consumer_group: str = ""
    topic_partitions: int = Field(default=3, ge=1)
    # Replicas of the topics a service creates itself (missing ones only): at least the
    # cluster's min.insync.replicas, or acks=all producers cannot write to them.
    topic_replication_factor: int = Field(default=1, ge=1, le=32767)
    # Prepended to every topic name; tests give each run its own topics with it.
    topic_namespace: str = ""
    # How long a publish waits for the broker's ack before it fails as unavailable (an HTTP
    # request then answers 503): aiokafka's idempotent producer retries a down broker forever.
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long a consumer may keep handled offsets before committing them (0: after every
    # batch). Handlers apply each event once, so a crash within it only redelivers; a commit
    # per batch was a broker round trip per event at the rates the notices run at.
    consumer_commit_interval_seconds: float = Field(default=0.2, ge=0, le=60)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def topic(self, name: str) -> str:
        """The deployed name of a contract topic such as ``CREDENTIALS_TOPIC``."""
        return f"{self.topic_namespace}{name}"

    @model_validator(mode="after")
    def _default_consumer_group(self) -> Self:
        if not self.consumer_group:
            self.consumer_group = f"credreg-{self.service_name}"
        return self


class InstitutionApiSettings(ServiceSettings):
    """Settings of a service that registrars call with institution API keys."""

    # JSON object of API key → institution id (the credential's issuer id); never logged.
    api_keys: dict[str, str] = Field(default_factory=dict, repr=False)

    @field_validator("api_keys")
    @classmethod
    def _institutions_are_dids(cls, keys: dict[str, str]) -> dict[str, str]:
        # An issuer that is not a DID controls no verification method, so every verifier
        # would reject its credentials (issuer ≠ key controller): refuse it at start-up.
        for institution in keys.values():
            if not INSTITUTION_DID.fullmatch(institution):
                raise ValueError(
                    f"institution id {institution!r} is not a DID: use did:web:<host> "
                    "(or did:key:… in tests)"
                )
        return keys


class HolderTokenSettings(ServiceSettings):
    """Settings of a service that takes holder tokens (and of the registry, which mints them)."""

    # The registry's signing key (`secretKeyMultibase`, z3u2…): only the registry sets it.
    holder_token_key: SecretStr | None = Field(default=None, repr=False)
    # Public keys (`publicKeyMultibase`, z6Mk…) whose tokens are accepted: the current key's,
    # and the previous one's while its last tokens may live. Empty: the signing key's own.
    holder_token_public_keys: list[str] = Field(default_factory=list)
    holder_token_minutes: int = Field(default=15, ge=1, le=24 * 60)


class CallerSettings(InstitutionApiSettings, HolderTokenSettings):
    """Settings of a service that holders (holder tokens) and institutions (API keys) call."""
