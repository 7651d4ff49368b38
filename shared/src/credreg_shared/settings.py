"""Environment-driven settings every credreg service extends (``CREDREG_*`` variables)."""

from __future__ import annotations

import re
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


class ServiceSettings(BaseSettings):
    """Settings shared by all services; each service subclasses it with its own defaults."""

    model_config = SettingsConfigDict(env_prefix="CREDREG_", extra="ignore")

    service_name: str = "credreg"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # The URI may carry credentials: keep it out of repr() and therefore out of logs.
    mongodb_uri: str = Field(default="mongodb://127.0.0.1:27017/", repr=False)
    mongodb_database: str = "credreg"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    log_level: LogLevel = "INFO"
    log_json: bool = True
    consumer_group: str = ""
    topic_partitions: int = Field(default=3, ge=1)
    # Prepended to every topic name; tests give each run its own topics with it.
    topic_namespace: str = ""
    # How long a publish waits for the broker's ack before it fails as unavailable (an HTTP
    # request then answers 503): aiokafka's idempotent producer retries a down broker forever.
    publish_timeout_seconds: float = Field(default=10.0, gt=0)

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
