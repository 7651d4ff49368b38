"""The ports tests and benchmarks listen on (deploy/local/service_processes.py `free_port`)."""

from __future__ import annotations

import socket
from pathlib import Path
from types import ModuleType

import pytest

from credreg_shared.testing import load_script

SERVICE_PROCESSES = (
    Path(__file__).resolve().parents[2] / "deploy" / "local" / "service_processes.py"
)


@pytest.fixture(scope="module")
def processes() -> ModuleType:
    """The launcher's process module, loaded from its file (a script, not a package)."""
    return load_script(SERVICE_PROCESSES, "credreg_service_processes")


def test_a_free_port_lies_below_the_ephemeral_range_and_can_be_bound(
    processes: ModuleType,
) -> None:
    ephemeral = processes.ephemeral_ports()
    ports = {processes.free_port() for _ in range(20)}

    assert all(processes.FIRST_CHOSEN_PORT <= port < ephemeral.start for port in ports), ports
    for port in ports:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", port))
            listener.listen()


def test_a_port_in_use_is_passed_over(
    processes: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_choice = processes.random.choice
    offered: list[int] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]

        def busy_first(ports: range) -> int:
            offered.append(busy if not offered else real_choice(ports))
            return offered[-1]

        monkeypatch.setattr(processes, "FIRST_CHOSEN_PORT", busy)
        monkeypatch.setattr(processes, "ephemeral_ports", lambda: range(busy + 500, busy + 600))
        monkeypatch.setattr(processes.random, "choice", busy_first)

        chosen = processes.free_port()

    assert offered[0] == busy
    assert chosen == offered[-1] != busy
    assert busy < chosen < busy + 500
