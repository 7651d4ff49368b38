"""ServiceSettings reads CREDREG_* variables; placeholder secrets are refused at start-up."""

import json
import os

import pytest
from pydantic import Field, SecretStr, ValidationError

from credreg_shared.settings import (
    InstitutionApiSettings,
    RealSecret,
    ServiceSettings,
    require_real_secret,
)

KEY_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


class SampleSettings(ServiceSettings):
    """A service's own settings, as a service would declare them."""

    service_name: str = "sample"
    mongodb_database: str = "credreg_sample"
    http_port: int = Field(default=8009, ge=0, le=65535)
    admin_api_key: RealSecret


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CREDREG_"):
            monkeypatch.delenv(name)


def test_defaults_point_at_local_infrastructure() -> None:
    settings = ServiceSettings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.mongodb_uri == "mongodb://127.0.0.1:27017/"
    assert settings.http_host == "127.0.0.1"
    assert settings.log_level == "INFO"
    assert settings.log_json is True
    assert settings.topic_partitions == 3


def test_environment_overrides_with_the_credreg_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDREG_KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092,kafka-1:9092")
    monkeypatch.setenv("CREDREG_MONGODB_URI", "mongodb://db.internal:27017/")
    monkeypatch.setenv("CREDREG_HTTP_PORT", "9100")
    monkeypatch.setenv("CREDREG_LOG_LEVEL", "debug")
    monkeypatch.setenv("CREDREG_LOG_JSON", "false")
    monkeypatch.setenv("CREDREG_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("CREDREG_ADMIN_API_KEY", "k3y-from-the-vault")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "unprefixed-is-ignored:9092")

    settings = SampleSettings()

    assert settings.kafka_bootstrap_servers == "kafka-0:9092,kafka-1:9092"
    assert settings.mongodb_uri == "mongodb://db.internal:27017/"
    assert settings.http_port == 9100
    assert settings.log_level == "DEBUG"
    assert settings.log_json is False
    assert settings.topic_partitions == 12
    assert settings.admin_api_key.get_secret_value() == "k3y-from-the-vault"


def test_subclass_defaults_and_derived_consumer_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDREG_ADMIN_API_KEY", "k3y-from-the-vault")
    settings = SampleSettings()
    assert settings.http_port == 8009
    assert settings.mongodb_database == "credreg_sample"
    assert settings.consumer_group == "credreg-sample"


def test_explicit_consumer_group_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDREG_CONSUMER_GROUP", "blue-deployment")
    assert ServiceSettings(service_name="x").consumer_group == "blue-deployment"


@pytest.mark.parametrize("bad", ["", "   ", "changeme", "CHANGEME", "changethis", "secret"])
def test_placeholder_secrets_are_refused(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("CREDREG_ADMIN_API_KEY", bad)
    with pytest.raises(ValidationError, match="admin_api_key"):
        SampleSettings()


def test_missing_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="admin_api_key"):
        SampleSettings()


def test_secrets_and_the_mongodb_uri_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDREG_ADMIN_API_KEY", "k3y-from-the-vault")
    monkeypatch.setenv("CREDREG_MONGODB_URI", "mongodb://user:hunter2@db:27017/")
    text = repr(SampleSettings())
    assert "k3y-from-the-vault" not in text
    assert "hunter2" not in text


def test_require_real_secret_returns_a_real_secret() -> None:
    secret = SecretStr("a-real-one")
    assert require_real_secret(secret, field="webhook_key") is secret
    with pytest.raises(ValueError, match="webhook_key"):
        require_real_secret(SecretStr("changeme"), field="webhook_key")
    with pytest.raises(ValueError, match="webhook_key must be set"):
        require_real_secret(None, field="webhook_key")


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDREG_HTTP_PORT", "70000")
    with pytest.raises(ValidationError, match="http_port"):
        ServiceSettings()
    monkeypatch.setenv("CREDREG_HTTP_PORT", "8000")
    monkeypatch.setenv("CREDREG_LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError, match="log_level"):
        ServiceSettings()


@pytest.mark.parametrize(
    "institution", ["demo-university", "https://uni.example", "did:example:uni", "did:web:"]
)
def test_an_institution_that_is_not_a_did_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, institution: str
) -> None:
    monkeypatch.setenv("CREDREG_API_KEYS", json.dumps({"key-1": institution}))
    with pytest.raises(ValidationError, match="is not a DID"):
        InstitutionApiSettings()


def test_did_web_and_did_key_institutions_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {"a": "did:web:uni.example", "b": "did:web:host.example:institutions:uni", "c": KEY_DID}
    monkeypatch.setenv("CREDREG_API_KEYS", json.dumps(keys))
    assert InstitutionApiSettings().api_keys == keys
