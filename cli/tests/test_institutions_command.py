"""`credreg institutions …` against the issuer's admin API (the real app, over fakes)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from credreg_cli import institutions_command
from credreg_cli.main import app
from credreg_issuer.adapters.fakes import (
    InMemoryInstitutions,
    in_memory_adapters,
)
from credreg_issuer.bootstrap import build_app
from credreg_issuer.settings import IssuerSettings
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring

runner = CliRunner()
ADMIN = ["--admin-key", "admin-key-for-tests", "--url", "http://issuer"]
DID = "did:web:issuer.example:institutions:uni-a"


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> InMemoryInstitutions:
    settings = IssuerSettings(
        topic_namespace="unit.",
        admin_api_key="admin-key-for-tests",
        key_encryption_key=f"k1:{KeyEncryptionKeyring.generate_kek()}",
        did_web_host="issuer.example",
    )
    fakes = in_memory_adapters()
    store = fakes.institutions
    assert isinstance(store, InMemoryInstitutions)
    app_under_test = build_app(settings, fakes=fakes)
    monkeypatch.setenv("COLUMNS", "250")  # Rich's tables fold to the terminal's width
    monkeypatch.setattr(institutions_command, "TRANSPORT", httpx.ASGITransport(app=app_under_test))
    return store


def run(*args: str) -> Any:
    return runner.invoke(app, ["institutions", *args], terminal_width=200)


def test_create_list_rotate_and_api_keys_end_to_end(issuer: InMemoryInstitutions) -> None:
    created = run("create", "uni-a", "--name", "University A", "--json", *ADMIN)
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)[0]["id"] == DID

    listed = run("list", *ADMIN)
    assert listed.exit_code == 0, listed.output
    assert "University A" in listed.output and "key-1" in listed.output

    rotated = run("rotate-key", DID, "--json", *ADMIN)
    assert json.loads(rotated.output)[0]["active_key"] == "key-2"

    key = run("create-api-key", DID, "--scope", "issue", "--label", "SIS", "--json", *ADMIN)
    assert key.exit_code == 0, key.output
    shown = json.loads(key.output)
    assert shown["scopes"] == ["issue"] and shown["key"].startswith("crk_")

    resealed = run("reseal-keys", *ADMIN)
    assert resealed.exit_code == 0, resealed.output
    assert "resealed 0 signing key(s) under k1" in resealed.output

    revoked = run("revoke-api-key", DID, shown["id"], *ADMIN)
    assert revoked.exit_code == 0, revoked.output
    assert next(iter(issuer.keys.values())).revoked_at is not None


def test_refusals_print_the_problem_and_exit_non_zero(issuer: InMemoryInstitutions) -> None:
    bad = run("create", "Not A Slug", "--name", "x", *ADMIN)
    assert bad.exit_code == 1
    assert "422" in bad.output and "slug" in bad.output
    wrong = run("list", "--admin-key", "wrong", "--url", "http://issuer")
    assert wrong.exit_code == 1 and "401" in wrong.output
    unknown = run("rotate-key", "did:web:nowhere.example", *ADMIN)
    assert unknown.exit_code == 1 and "404" in unknown.output
    assert issuer.institutions == {}


def test_an_unreachable_issuer_exits_two() -> None:
    result = run("list", "--admin-key", "k", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "cannot reach the issuer" in result.output
