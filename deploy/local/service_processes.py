"""Run the four credreg services (and a demo wallet) as local processes: up, down, status.

Usage: python deploy/local/service_processes.py {up,down,status}

Each service runs as `python -m credreg_<name>` with its settings in CREDREG_* variables; pid
files and logs go to .local/run/. The same ServiceProcess class starts real service processes
in the end-to-end tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
RUN_DIR = REPO / ".local" / "run"
PORTS = {"issuer": 8001, "registry": 8002, "revocation": 8003, "notifier": 8004}
DEMO_WALLET_PORT = 8009
DID_WEB_HOST = f"localhost:{PORTS['issuer']}"
"""Institutions hosted by the local issuer are did:web:localhost%3A8001:institutions:<slug>."""
DEMO_INSTITUTIONS = {"demo-university": "Demo University", "other-college": "Other College"}
DEMO_ADMIN_KEY = "demo-admin-key"  # noqa: S105 - local demo only


def hosted_did(slug: str) -> str:
    """The did:web of a demo institution hosted by the local issuer."""
    return f"did:web:{DID_WEB_HOST.replace(':', '%3A')}:institutions:{slug}"


# Registrar keys from settings (the issuer and the revocation service both accept them); the
# seed creates the institutions themselves, with their signing keys, through the admin API.
DEMO_API_KEYS = {
    "demo-university-key": hosted_did("demo-university"),
    "other-college-key": hosted_did("other-college"),
}
READY_TIMEOUT_S = 90.0


@dataclass
class ServiceProcess:
    """One service as an OS process: start it, wait until ready, stop or kill it."""

    name: str
    port: int
    env: Mapping[str, str]
    log_path: Path
    argv: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        if not self.argv:
            self.argv = [sys.executable, "-m", f"credreg_{self.name}"]

    @property
    def url(self) -> str:
        """Base URL of the service's HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> int:
        """Spawn the process in its own session with its log file; returns its pid."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "CREDREG_HTTP_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll /readyz until it answers 200; fail with the log tail if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            if http_status(f"{self.url}/readyz") == 200:
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout`); returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to commit or flush anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def tail(self, lines: int = 30) -> str:
        """The last lines of the service's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
FIRST_CHOSEN_PORT = 20_000


def ephemeral_ports() -> range:
    """The ports the kernel hands to outgoing connections (Linux's default when unreadable)."""
    try:
        low, high = (int(part) for part in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32_768, 60_999
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port nobody uses now, below the kernel's ephemeral range (tests, benches)."""
    # A port from the ephemeral range can be taken as the local end of any outgoing connection
    # between this check and the listener's bind; a CI run lost its fault driver's broker that
    # way. Below the range only an explicit bind takes a port, so a free one stays free.
    below = range(FIRST_CHOSEN_PORT, ephemeral_ports().start)
    for _ in range(200 if len(below) > 100 else 0):
        port = random.choice(below)  # noqa: S311 - spreads concurrent callers, not a secret
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_status(url: str) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def demo_key_encryption_key() -> str:
    """The demo's key-encryption key: made once, kept beside the local state (never committed).

    Deleting it while the database keeps the demo institutions makes the issuer refuse to start
    (`python deploy/local/infra.py down --wipe` deletes the database)."""
    path = RUN_DIR / "demo-key-encryption-key"
    if not path.exists():
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        path.write_text(f"demo:{kek}\n")
        path.chmod(0o600)
    return path.read_text().strip()


def demo_holder_token_key() -> str:
    """The demo registry's holder-token key (`secretKeyMultibase`), made once like the KEK."""
    path = RUN_DIR / "demo-holder-token-key"
    if not path.exists():
        # Imported here: the launcher's other commands need no credreg package.
        from credreg_shared.credentials.keys import Ed25519KeyPair

        RUN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(Ed25519KeyPair.generate().secret_multikey + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def demo_credential_id_secret() -> str:
    """The demo issuer's key for credential ids derived from Idempotency-Keys, made once."""
    path = RUN_DIR / "demo-credential-id-secret"
    if not path.exists():
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def local_env() -> dict[str, str]:
    """Settings for `make up`: the local infra, demo API keys, a loopback demo wallet."""
    kafka_port = os.environ.get("CREDREG_KAFKA_PORT", "9092")
    mongo_port = os.environ.get("CREDREG_MONGO_PORT", "27017")
    return {
        "CREDREG_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "CREDREG_MONGODB_URI": f"mongodb://127.0.0.1:{mongo_port}/",
        "CREDREG_API_KEYS": json.dumps(DEMO_API_KEYS),
        "CREDREG_ADMIN_API_KEY": DEMO_ADMIN_KEY,
        "CREDREG_KEY_ENCRYPTION_KEY": demo_key_encryption_key(),
        # The registry mints holder tokens with it (DID auth, or on an institution's word).
        "CREDREG_HOLDER_TOKEN_KEY": demo_holder_token_key(),
        # Credential ids cannot be computed from a known Idempotency-Key.
        "CREDREG_CREDENTIAL_ID_SECRET": demo_credential_id_secret(),
        "CREDREG_DID_WEB_HOST": DID_WEB_HOST,
        "CREDREG_STATUS_LIST_BASE_URL": f"http://{DID_WEB_HOST}",
        # The registry's verifier fetches the demo institutions' did:web documents locally.
        "CREDREG_DID_WEB_HOSTS": json.dumps(
            {DID_WEB_HOST.replace(":", "%3A"): f"http://127.0.0.1:{PORTS['issuer']}"}
        ),
        # The demo wallet listens on loopback, which production refuses; `up` says so.
        "CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
        "CREDREG_LOG_LEVEL": "INFO",
    }


def local_processes() -> list[ServiceProcess]:
    """The processes `make up` runs."""
    env = local_env()
    processes = [
        ServiceProcess(name, port, env, RUN_DIR / f"{name}.log") for name, port in PORTS.items()
    ]
    wallet_argv = [sys.executable, str(REPO / "deploy" / "local" / "demo_wallet.py")]
    processes.append(
        ServiceProcess("wallet", DEMO_WALLET_PORT, env, RUN_DIR / "wallet.log", argv=wallet_argv)
    )
    return processes


def read_pid(name: str) -> int | None:
    """The pid of a running local process started by `up`."""
    try:
        pid = int((RUN_DIR / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


TRUE_WORDS = ("1", "true", "yes", "on")  # what the services read as a true setting


def private_webhook_targets_notice(env: Mapping[str, str]) -> str | None:
    """What `up` prints when the notifier may call private targets (the demo wallet's setting)."""
    if env.get("CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS", "").lower() not in TRUE_WORDS:
        return None
    return (
        "[services] note: CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS=true for the notifier, because\n"
        f"           the demo wallet listens on loopback (http://127.0.0.1:{DEMO_WALLET_PORT}),\n"
        "           which the notifier otherwise refuses (422 at subscription, no delivery).\n"
        "           It lets webhooks use plain http and reach loopback and private addresses:\n"
        "           demo and tests only, never in production (SSRF)."
    )


def up() -> None:
    """Start every local process that is not running, then wait until all are ready."""
    notice = private_webhook_targets_notice(local_env())
    if notice is not None:
        print(notice)
    started = []
    for service in local_processes():
        if read_pid(service.name) is not None and http_status(f"{service.url}/readyz") == 200:
            print(f"[services] {service.name} already running at {service.url}")
            continue
        pid = service.start()
        (RUN_DIR / f"{service.name}.pid").write_text(str(pid))
        started.append(service)
    for service in started:
        service.wait_ready()
        print(f"[services] {service.name:10} ready at {service.url}  (log {service.log_path})")


def down() -> None:
    """SIGTERM every local process, SIGKILL what does not exit."""
    for service in reversed(local_processes()):
        pid = read_pid(service.name)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and read_pid(service.name) is not None:
            if _is_zombie(pid):
                break
            time.sleep(0.2)
        if read_pid(service.name) is not None and not _is_zombie(pid):
            os.kill(pid, signal.SIGKILL)
        (RUN_DIR / f"{service.name}.pid").unlink(missing_ok=True)
        print(f"[services] {service.name} stopped")


def _is_zombie(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def status() -> int:
    """Print each local process and whether it is ready."""
    ok = True
    for service in local_processes():
        ready = http_status(f"{service.url}/readyz") == 200
        ok &= ready
        state = "ready" if ready else "down"
        print(f"{service.name:10} {state:6} pid={read_pid(service.name) or '-':<8} {service.url}")
    return 0 if ok else 1


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if command == "up":
        try:
            up()
        except RuntimeError as error:
            print(f"[services] error: {error}", file=sys.stderr)
            return 2
        return 0
    if command == "down":
        down()
        return 0
    return status()


if __name__ == "__main__":
    sys.exit(main())
