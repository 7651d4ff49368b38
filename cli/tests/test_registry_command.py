"""`credreg registry rebuild` hands over to the registry's own rebuild and keeps its exit code."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from credreg_cli import registry_command
from credreg_cli.main import app


def test_rebuild_runs_the_registry_rebuild_and_exits_with_its_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **_options: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 1)

    monkeypatch.setattr(registry_command.subprocess, "run", fake_run)
    result = CliRunner().invoke(app, ["registry", "rebuild"])
    assert result.exit_code == 1
    assert calls and calls[0][1:] == ["-m", "credreg_registry", "rebuild"]


def test_rebuild_without_the_registry_installed_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_command.importlib.util, "find_spec", lambda _name: None)
    result = CliRunner().invoke(app, ["registry", "rebuild"])
    assert result.exit_code == 2
    assert "not installed" in result.output


def test_the_registry_entry_point_refuses_unknown_arguments() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "credreg_registry", "rebiuld"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "usage" in finished.stderr
