"""Every CREDREG_* setting a service reads is in its ConfigMap or a Secret reference, and the
service's own settings class accepts what the manifests give it."""

from __future__ import annotations

import base64
import importlib
import json
import os
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from credreg_shared.credentials.keys import Ed25519KeyPair

from .manifests import SERVICES, config_map_of, named
from .tools import OVERLAYS


def settings_class(service: str) -> type[BaseSettings]:
    """The service's settings class (credreg_<service>.settings.<Service>Settings)."""
    module = importlib.import_module(f"credreg_{service}.settings")
    found: type[BaseSettings] = getattr(module, f"{service.capitalize()}Settings")
    return found


def environment_names(kind: type[BaseSettings]) -> set[str]:
    """The variables the settings class reads: its env prefix and each field's name."""
    prefix = kind.model_config.get("env_prefix", "")
    assert prefix == "CREDREG_"
    names = set()
    for name, field in kind.model_fields.items():
        assert field.alias is None and field.validation_alias is None, name
        names.add(f"{prefix}{name}".upper())
    return names


def _secret_values() -> dict[str, str]:
    """A valid value for each secret setting, as an operator's Secret would hold it."""
    kek = base64.urlsafe_b64encode(b"k" * 32).rstrip(b"=").decode()
    return {
        "CREDREG_MONGODB_URI": "mongodb://issuer:pw@mongodb-0,mongodb-1/admin?replicaSet=rs",
        "CREDREG_API_KEYS": json.dumps({"registrar-key": "did:web:uni.example.org"}),
        "CREDREG_ADMIN_API_KEY": "a-real-admin-key-of-some-length",
        "CREDREG_KEY_ENCRYPTION_KEY": f"k1:{kek}",
        "CREDREG_CREDENTIAL_ID_SECRET": "a-real-credential-id-secret",
        "CREDREG_SIGNING_KEYS": json.dumps(
            {"did:web:uni.example.org": Ed25519KeyPair.generate().secret_multikey}
        ),
        "CREDREG_HOLDER_TOKEN_KEY": Ed25519KeyPair.generate().secret_multikey,
        "CREDREG_KAFKA_SASL_PASSWORD": "a-scram-password-strimzi-generated",
    }


def _environment(overlay: list[dict[str, Any]], service: str) -> tuple[dict[str, str], set[str]]:
    """The service's environment as the Deployment gives it (Secrets filled with valid values),
    and the names that come from Secrets."""
    deployment = named(overlay, "Deployment", f"credreg-{service}")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = dict(config_map_of(overlay, deployment))
    from_secrets = set()
    secrets = _secret_values()
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            assert "secretKeyRef" in variable["valueFrom"], variable
            from_secrets.add(variable["name"])
            assert variable["name"] in secrets, f"no test value for secret {variable['name']}"
            env[variable["name"]] = secrets[variable["name"]]
    return env, from_secrets


@pytest.mark.parametrize("overlay_name", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_the_service_reads_is_in_its_config_map_or_a_secret(
    resources: dict[str, list[dict[str, Any]]], overlay_name: str, service: str
) -> None:
    env, _ = _environment(resources[overlay_name], service)
    wanted = environment_names(settings_class(service))
    missing = sorted(wanted - set(env))
    assert missing == [], f"credreg-{service} is given no {missing}"
    unknown = sorted(name for name in env if name.startswith("CREDREG_") and name not in wanted)
    assert unknown == [], f"credreg-{service} is given settings it does not read: {unknown}"


@pytest.mark.parametrize("overlay_name", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_the_service_accepts_its_settings_and_keeps_secrets_out_of_config_maps(
    resources: dict[str, list[dict[str, Any]]],
    overlay_name: str,
    service: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    overlay = resources[overlay_name]
    env, from_secrets = _environment(overlay, service)
    kind = settings_class(service)
    # Every secret-typed field (and the credentials in the Mongo URI, the API keys) comes from
    # a Secret, never from a ConfigMap.
    secret_fields = {
        f"CREDREG_{name}".upper()
        for name, field in kind.model_fields.items()
        if "Secret" in repr(field.annotation) or field.repr is False
    }
    assert secret_fields <= from_secrets, sorted(secret_fields - from_secrets)
    deployment = named(overlay, "Deployment", f"credreg-{service}")
    assert not secret_fields & set(config_map_of(overlay, deployment))

    for name in [n for n in os.environ if n.startswith("CREDREG_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings: Any = kind()
    assert settings.service_name == service
    assert settings.http_host == "0.0.0.0"  # noqa: S104 - a pod listens on its own address
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert [p["containerPort"] for p in container["ports"]] == [settings.http_port]
