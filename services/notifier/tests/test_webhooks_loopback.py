"""The webhook sender over real sockets on loopback: TLS, redirects, rebinding, the setting.

Wallets here are real HTTP(S) servers on 127.0.0.1, with a certificate for ``wallet.test``
signed by a CA made for the test session. Names are answered by a scripted resolver: ``.test``
names resolve nowhere else, so a connection made by name instead of by the checked address
fails. A public address stands for the wallet where a test needs the SSRF guard on; the
client's transport maps it to the loopback wallet and records every address httpx is asked
to connect to (through the ``trace`` extension, at the TCP connect itself). No network beyond
loopback is used.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from credreg_notifier.adapters.webhooks import ANSWER_READ_LIMIT as HttpxAnswerLimit
from credreg_notifier.adapters.webhooks import DnsWebhookTargets, HttpxWebhookSender
from credreg_notifier.domain import TargetRefused, new_secret

BODY = '{"type":"org.credreg.credential.revoked.v1","timestamp":"2026-03-01T12:00:00Z","data":{}}'
PUBLIC = "93.184.215.14"  # stands for the wallet; mapped to loopback by the test's transport
SERVER_JOIN_SECONDS = 5.0  # a bound on shutting a test server down, not a timing assertion


# A certificate authority and a server certificate for wallet.test, made once per session.


@dataclass(frozen=True)
class Pki:
    """A test CA (PEM) and a server certificate chain and key signed by it, as files."""

    ca_pem: str
    cert_file: str
    key_file: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _certificate("credreg test CA", ca_key, "credreg test CA", ca_key, ca=True)
    server = _certificate("wallet.test", server_key, "credreg test CA", ca_key, ca=False)
    cert_file, key_file = folder / "wallet.pem", folder / "wallet.key"
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM).decode(), str(cert_file), str(key_file))


# Wallets: HTTP(S) servers on loopback that record what reached them.


@dataclass
class Wallet:
    """A webhook endpoint on 127.0.0.1: records each POST and the TLS server name asked for."""

    port: int = 0
    status: int = 204
    location: str | None = None
    keep_alive: bool = False
    body: bytes = b""
    posts: list[dict[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[dict[str, str]]:
        with self.lock:
            return list(self.posts)


def _handler(wallet: Wallet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if wallet.keep_alive else "HTTP/1.0"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with wallet.lock:
                wallet.posts.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(wallet.status)
            if wallet.location is not None:
                self.send_header("location", wallet.location)
            self.send_header("content-length", str(len(wallet.body)))
            self.end_headers()
            self.wfile.write(wallet.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    return Handler


class TlsServer(ThreadingHTTPServer):
    """An HTTPS server: each accepted connection is wrapped in TLS before it is handled."""

    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.context = context

    def get_request(self) -> tuple[Any, Any]:
        sock, peer = super().get_request()
        # A refused handshake raises an OSError here, which the server drops quietly.
        return self.context.wrap_socket(sock, server_side=True), peer


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start wallets on loopback (https with `pki`, else http); stop them all afterwards."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(wallet: Wallet, pki: Pki | None = None, host: str = "127.0.0.1") -> Wallet:
        if pki is None:
            server = ThreadingHTTPServer((host, wallet.port), _handler(wallet))
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(pki.cert_file, pki.key_file)
            context.sni_callback = lambda _sock, name, _ctx: wallet.server_names.append(name)
            server = TlsServer((host, wallet.port), _handler(wallet), context)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        running.append((server, thread))
        wallet.port = server.server_address[1]
        return wallet

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=SERVER_JOIN_SECONDS)


# The client side: a scripted resolver, and a transport that maps and records connections.


class Resolver:
    """Answers names from a script (the last answer repeats) and counts its calls."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        if host not in self.answers:
            raise TargetRefused(f"url host {host!r} does not resolve")
        answers = self.answers[host]
        self.calls.append(host)
        return answers[min(self.calls.count(host) - 1, len(answers) - 1)]


class MappedTransport(httpx.AsyncBaseTransport):
    """A real transport that sends `mapped` addresses to loopback and records every connect."""

    def __init__(self, inner: httpx.AsyncBaseTransport, mapped: dict[str, str]) -> None:
        self.inner = inner
        self.mapped = mapped
        self.requested: list[str] = []  # the host of each URL httpx was given
        self.connected: list[str] = []  # the host of each TCP connection httpcore opened

    async def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self.connected.append(info["host"])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requested.append(request.url.host)
        host = self.mapped.get(request.url.host, request.url.host)
        request.url = request.url.copy_with(host=host)
        request.extensions = {**request.extensions, "trace": self._trace}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Sender:
    """A real sender over the mapped transport, with its resolver and transport to inspect."""

    sender: HttpxWebhookSender
    resolver: Resolver
    transport: MappedTransport

    async def send(self, url: str) -> str | None:
        return await self.sender.send(url=url, secret=new_secret(), message_id="m", body=BODY)


@pytest.fixture
async def make_sender(pki: Pki) -> Any:
    """Build senders that trust the test CA; their HTTP clients are closed afterwards."""
    clients: list[httpx.AsyncClient] = []

    def make(
        answers: dict[str, list[list[str]]],
        *,
        allow_private: bool,
        mapped: dict[str, str] | None = None,
    ) -> Sender:
        verify = ssl.create_default_context(cadata=pki.ca_pem)
        transport = MappedTransport(httpx.AsyncHTTPTransport(verify=verify), mapped or {})
        # trust_env off: a proxy from the environment must not carry loopback test traffic.
        client = httpx.AsyncClient(transport=transport, trust_env=False)
        clients.append(client)
        resolver = Resolver(answers)
        targets = DnsWebhookTargets(allow_private=allow_private, resolver=resolver)
        sender = HttpxWebhookSender(client, targets=targets, timeout_seconds=5)
        return Sender(sender, resolver, transport)

    yield make
    for client in clients:
        await client.aclose()


async def test_https_goes_to_the_checked_address_with_the_name_in_host_sni_and_certificate(
    pki: Pki, serve: Any, make_sender: Any
) -> None:
    wallet = serve(Wallet(), pki)
    sender = make_sender({"wallet.test": [["127.0.0.1"]]}, allow_private=True)

    assert await sender.send(f"https://wallet.test:{wallet.port}/hook") is None

    [post] = wallet.received()
    assert post["host"] == f"wallet.test:{wallet.port}"
    assert wallet.server_names == ["wallet.test"]  # SNI; the certificate names only this
    assert sender.transport.connected == ["127.0.0.1"]
    assert sender.resolver.calls == ["wallet.test"]


async def test_a_certificate_for_another_name_fails_the_attempt(
    pki: Pki, serve: Any, make_sender: Any
) -> None:
    wallet = serve(Wallet(), pki)
    sender = make_sender({"other.test": [["127.0.0.1"]]}, allow_private=True)

    error = await sender.send(f"https://other.test:{wallet.port}/hook")

    assert error is not None and error.startswith("ConnectError")
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert wallet.received() == []


async def test_a_rebinding_name_reaches_only_the_address_that_was_checked(
    pki: Pki, serve: Any, make_sender: Any
) -> None:
    # The name answers a public address first (the wallet, mapped to loopback by the test),
    # then loopback. Only the first answer may be connected to, and it is asked for once.
    wallet = serve(Wallet(), pki)
    sender = make_sender(
        {"wallet.test": [[PUBLIC], ["127.0.0.1"]]},
        allow_private=False,
        mapped={PUBLIC: "127.0.0.1"},
    )

    assert await sender.send(f"https://wallet.test:{wallet.port}/hook") is None

    assert sender.transport.requested == [PUBLIC]
    assert sender.resolver.calls == ["wallet.test"]
    [post] = wallet.received()
    assert post["host"] == f"wallet.test:{wallet.port}"

    # The next attempt checks again, sees the private answer, and connects nowhere.
    error = await sender.send(f"https://wallet.test:{wallet.port}/hook")
    assert error is not None and error.startswith("target refused")
    assert sender.transport.requested == [PUBLIC]
    assert len(wallet.received()) == 1


async def test_a_302_to_a_private_target_is_not_followed(
    pki: Pki, serve: Any, make_sender: Any
) -> None:
    internal = serve(Wallet())
    wallet = serve(Wallet(status=302), pki)
    wallet.location = f"http://127.0.0.1:{internal.port}/internal"
    sender = make_sender(
        {"wallet.test": [[PUBLIC]]}, allow_private=False, mapped={PUBLIC: "127.0.0.1"}
    )

    error = await sender.send(f"https://wallet.test:{wallet.port}/hook")

    assert error == "HTTP 302 (redirects are not followed)"
    assert len(wallet.received()) == 1
    assert internal.received() == []
    assert sender.transport.requested == [PUBLIC]


async def test_loopback_is_reached_only_when_private_targets_are_allowed(
    serve: Any, make_sender: Any
) -> None:
    wallet = serve(Wallet())
    url = f"http://wallet.test:{wallet.port}/hook"

    refused = make_sender({"wallet.test": [["127.0.0.1"]]}, allow_private=False)
    error = await refused.send(url)
    assert error is not None and error.startswith("target refused")
    assert wallet.received() == []
    assert refused.transport.requested == []

    allowed = make_sender({"wallet.test": [["127.0.0.1"]]}, allow_private=True)
    assert await allowed.send(url) is None
    assert len(wallet.received()) == 1
    assert allowed.transport.connected == ["127.0.0.1"]


async def test_an_address_that_refuses_the_connection_gives_way_to_the_next(
    serve: Any, make_sender: Any
) -> None:
    # Nothing listens on 127.0.0.2 at the wallet's port; the wallet listens on 127.0.0.1.
    wallet = serve(Wallet())
    sender = make_sender({"wallet.test": [["127.0.0.2", "127.0.0.1"]]}, allow_private=True)

    assert await sender.send(f"http://wallet.test:{wallet.port}/hook") is None

    assert sender.transport.connected == ["127.0.0.2", "127.0.0.1"]
    assert len(wallet.received()) == 1
    assert sender.resolver.calls == ["wallet.test"]


@pytest.mark.parametrize(
    ("body", "connections"),
    [(b"", 1), (b"thanks", 1), (b"x" * (HttpxAnswerLimit + 1), 3)],
    ids=["empty", "short", "too-long-to-read"],
)
async def test_plain_http_notices_share_one_kept_alive_connection_https_do_not(
    pki: Pki, serve: Any, make_sender: Any, body: bytes, connections: int
) -> None:
    wallet = serve(Wallet(status=200 if body else 204, keep_alive=True, body=body))
    sender = make_sender({"wallet.test": [["127.0.0.1"]]}, allow_private=True)
    for _ in range(3):
        assert await sender.send(f"http://wallet.test:{wallet.port}/hook") is None
    assert len(wallet.received()) == 3
    assert sender.transport.connected == ["127.0.0.1"] * connections

    secure = serve(Wallet(keep_alive=True), pki)
    tls = make_sender({"wallet.test": [["127.0.0.1"]]}, allow_private=True)
    for _ in range(2):
        assert await tls.send(f"https://wallet.test:{secure.port}/hook") is None
    # Verified for one name, a connection by IP must not carry another name's notice.
    assert tls.transport.connected == ["127.0.0.1"] * 2
