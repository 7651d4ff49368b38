"""``python -m credreg_registry rebuild``: the rebuild runs in a settled process, as a service."""

from __future__ import annotations

import pytest

from credreg_registry import __main__ as entry
from credreg_registry.rebuild import RebuildReport
from credreg_registry.settings import RegistrySettings


def test_the_rebuild_command_settles_the_heap_before_it_replays(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    async def rebuild(settings: RegistrySettings, **_: object) -> RebuildReport:
        calls.append("rebuild")
        return RebuildReport(generation=1, events=10, seconds=2.0)

    monkeypatch.setattr(entry, "settle_heap", lambda: calls.append("settle"))
    monkeypatch.setattr("credreg_registry.rebuild.rebuild", rebuild)
    monkeypatch.setattr("sys.argv", ["credreg_registry", "rebuild"])

    entry.main()

    assert calls == ["settle", "rebuild"]
    assert "generation 1 serves: 10 events" in capsys.readouterr().out
