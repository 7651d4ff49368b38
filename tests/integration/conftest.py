"""End-to-end fixtures: the four services as real processes over real Kafka and MongoDB."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy" / "local"))
from service_processes import ServiceProcess, free_port  # noqa: E402

from credreg_shared import testing  # noqa: E402
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring  # noqa: E402
from credreg_shared.credentials.keys import Ed25519KeyPair  # noqa: E402
from credreg_shared.events import samples  # noqa: E402

SERVICE_NAMES = ("issuer", "registry", "revocation", "notifier")
API_KEYS = {
    "key-uni-a": "did:web:uni-a.example",
    "key-uni-b": "did:web:uni-b.example",
    # The issuer of the sample events some tests publish straight to the log.
    "key-sample-issuer": samples.SAMPLE_ISSUER,
}


@dataclass
class Stack:
    """A running set of services sharing one topic namespace."""

    namespace: str
    base_env: dict[str, str]
    log_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def env_for(self, name: str, instance: str = "") -> dict[str, str]:
        """Settings of one service process: its own database and consumer group."""
        suffix = f"{name}{instance}"
        return {
            **self.base_env,
            "CREDREG_MONGODB_DATABASE": f"e2e_{self.namespace}_{suffix}"[:60],
            "CREDREG_CONSUMER_GROUP": f"e2e-{self.namespace}-{suffix}",
        }

    def start(self, name: str, instance: str = "", port: int | None = None) -> ServiceProcess:
        """Start a service process (an extra instance gets its own database and group)."""
        process = ServiceProcess(
            name,
            port or free_port(),
            self.env_for(name, instance),
            self.log_dir / f"{name}{instance}.log",
        )
        process.start()
        process.wait_ready()
        self.services[f"{name}{instance}"] = process
        if name == "issuer" and not instance:
            # Where the revocation service issues replacements ("reissue and supersede").
            self.base_env.setdefault("CREDREG_ISSUER_URL", process.url)
        return process

    def url(self, name: str) -> str:
        """Base URL of a running service."""
        return self.services[name].url

    def stop_all(self) -> None:
        """Stop every process of the stack."""
        for process in self.services.values():
            process.stop()


ADMIN = {"Authorization": "Bearer e2e-admin-key"}
"""The bootstrap admin key of issuers that keep institutions (`keep_institutions`)."""


def keep_institutions(stack: Stack, port: int, **settings: str) -> str:
    """Let the stack's issuer (to run on `port`) keep institutions: admin key, a fresh
    key-encryption key, its did:web host, plus `settings`; the host."""
    host = f"localhost:{port}"
    stack.base_env.update(
        {
            "CREDREG_ADMIN_API_KEY": "e2e-admin-key",
            "CREDREG_KEY_ENCRYPTION_KEY": f"e2e:{KeyEncryptionKeyring.generate_kek()}",
            "CREDREG_DID_WEB_HOST": host,
            **settings,
        }
    )
    return host


async def create_institution(
    client: httpx.AsyncClient, issuer_url: str, slug: str, port: int
) -> str:
    """Create a hosted institution through the issuer's admin API; its DID."""
    created = await client.post(
        f"{issuer_url}/v1/institutions", json={"slug": slug, "name": slug.title()}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    did: str = created.json()["id"]
    assert did == f"did:web:localhost%3A{port}:institutions:{slug}"
    return did


async def create_api_key(client: httpx.AsyncClient, issuer_url: str, did: str, *scopes: str) -> str:
    """An API key of the institution with these scopes (all when none)."""
    body = {"scopes": list(scopes), "label": "e2e"} if scopes else {}
    made = await client.post(
        f"{issuer_url}/v1/institutions/{did}/api-keys", json=body, headers=ADMIN
    )
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    return key


def new_stack(endpoints: Any, log_dir: Path) -> Stack:
    """A stack (no process started yet) with its own topic namespace, databases and groups."""
    namespace = uuid.uuid4().hex[:8]
    base_env = {
        "CREDREG_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "CREDREG_MONGODB_URI": endpoints.mongodb_uri,
        "CREDREG_TOPIC_NAMESPACE": f"e2e-{namespace}.",
        "CREDREG_API_KEYS": json.dumps(API_KEYS),
        "CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
        "CREDREG_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
        "CREDREG_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
        "CREDREG_WEBHOOK_MAX_ATTEMPTS": "4",
        "CREDREG_LOG_LEVEL": "INFO",
        # The registry mints holder tokens with it; every service checks them.
        "CREDREG_HOLDER_TOKEN_KEY": Ed25519KeyPair.generate().secret_multikey,
        "CREDREG_CREDENTIAL_ID_SECRET": f"e2e-{namespace}",
        # The notifier seals webhook secrets with it (the issuer, its signing keys).
        "CREDREG_KEY_ENCRYPTION_KEY": f"e2e:{KeyEncryptionKeyring.generate_kek()}",
    }
    return Stack(namespace, base_env, log_dir)


@pytest.fixture(scope="module")
def stack(endpoints: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The four services as processes, with a topic namespace private to this module."""
    running = new_stack(endpoints, tmp_path_factory.mktemp("e2e"))
    try:
        for name in SERVICE_NAMES:
            running.start(name)
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def empty_stack(endpoints: Any, tmp_path: Path) -> Iterator[Stack]:
    """A stack of this test's own that starts no process until the test says so."""
    running = new_stack(endpoints, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


@dataclass
class WebhookReceiver:
    """A local wallet endpoint that records every request it gets."""

    url: str
    requests: list[tuple[dict[str, str], bytes]]
    status_codes: list[int]

    def received(self) -> list[tuple[dict[str, str], bytes]]:
        """A snapshot of what arrived so far."""
        return list(self.requests)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """An HTTP server on loopback answering 204 (or the queued status codes first)."""
    requests: list[tuple[dict[str, str], bytes]] = []
    status_codes: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status_codes.pop(0) if status_codes else 204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebhookReceiver(
            f"http://127.0.0.1:{server.server_address[1]}/hooks", requests, status_codes
        )
    finally:
        server.shutdown()
        server.server_close()


async def poll_until(check: Callable[[], Awaitable[Any]], *, within: float = 60.0) -> Any:
    """Await `check` until it returns something truthy; fail with the last value at the deadline."""
    return await testing.eventually(check, "the end-to-end condition", patience=within)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[Any]]:
    """``await eventually(check)``: poll an async check until it is truthy (60 s by default)."""
    return poll_until
