"""Benchmark: a revocation request → the wallet's webhook received (and, with `--sse`, the
holder's live stream), with 1,000 subscriptions on loopback wallets.

Run: scripts/bench-webhooks.sh [flags] (starts the local infra if needed). Target (issue #12):
revocation request → wallet webhook received, p99 ≤ 250 ms at 100 revocations/s with 1,000
subscriptions, the wallets on loopback.

1. raw baselines at the same rate: an aiokafka record produced (acks=all) → consumed, and a
   plain loopback HTTP POST from this process to the same wallet server → received;
2. the issuer, the revocation service and the notifier as processes (fresh topic namespace,
   databases and consumer groups; an admin key and a key-encryption key; the notifier with
   `CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS=true`, its secrets sealed, quotas raised);
3. an institution created through the admin API and an API key for it (all scopes) created
   there too; the revocation service and the notifier learn the key from the log;
4. `--holders` subscriptions, one per holder, by the institution, each to its own path on a
   loopback wallet server in this process (asyncio, its own thread and loop) that records the
   arrival time of each `webhook-id` and verifies the Standard Webhooks signature of every
   `--verify-every`-th notice;
5. one credential per holder issued, plus `--sentinels` credentials to holders without
   subscriptions, revoked until the revocation service answers 202 (it knows the credentials);
6. revocations posted at `--rate`/s for `--seconds` s (one per holder, in holder order),
   the latency of each = webhook received − request sent. With `--sse`, every holder's stream
   is open too (holder tokens minted with the notifier's `CREDREG_HOLDER_TOKEN_KEY`) and the
   same revocation's arrival on the stream is measured as well.

Prints a table and writes JSON to bench/webhooks/runs/webhooks-<timestamp>.json. Numbers only:
it does not pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.holder_tokens import HolderTokenMinter

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUNS = HERE / "runs"
sys.path.insert(0, str(REPO / "deploy" / "local"))
sys.path.insert(0, str(REPO / "bench"))
from baseline import latency_summary, raw_kafka_latency  # noqa: E402
from service_processes import ServiceProcess, free_port  # noqa: E402

ADMIN_KEY = "bench-admin-key"
TARGET_P99_MS = 250.0


def log(message: str) -> None:
    print(f"[bench-webhooks] {message}", flush=True)


# The loopback wallet


@dataclass
class Wallet:
    """A minimal HTTP/1.1 server (keep-alive) on its own thread and event loop: records when
    each webhook arrives, by `webhook-id` and by the credential it names."""

    verify_every: int
    secrets: dict[str, str] = field(default_factory=dict)  # path → whsec_ secret
    arrivals: dict[str, float] = field(default_factory=dict)  # webhook-id → first arrival
    by_credential: dict[str, float] = field(default_factory=dict)  # credential id → arrival
    raw: dict[str, float] = field(default_factory=dict)  # baseline POSTs: token → arrival
    duplicates: int = 0
    received: int = 0
    verified: int = 0
    bad_signatures: int = 0
    unknown_paths: int = 0
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=2048)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await self._stop.wait()

        self._thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = time.perf_counter()
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self._record(path, headers, body, now)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _record(self, path: str, headers: dict[str, str], body: bytes, now: float) -> None:
        if path.startswith("/raw/"):
            self.raw.setdefault(path[5:], now)
            return
        self.received += 1
        message_id = headers.get("webhook-id", "")
        if message_id in self.arrivals:
            self.duplicates += 1
            return
        self.arrivals[message_id] = now
        secret = self.secrets.get(path)
        if secret is None:
            self.unknown_paths += 1
            return
        notice = json.loads(body)
        self.by_credential.setdefault(notice["data"]["credential_id"], now)
        if self.received % self.verify_every == 0:
            try:
                Webhook(secret).verify(body, headers)
                self.verified += 1
            except Exception:  # noqa: BLE001 - any failure is a bad signature, counted
                self.bad_signatures += 1


# Raw baselines


async def raw_http_latency(wallet: Wallet, count: int, rate: float) -> list[float]:
    """A plain POST from this process to the wallet server → its arrival there, ms."""
    sent: dict[str, float] = {}
    body = json.dumps({"type": "raw", "data": {"credential_id": "x" * 45}}).encode()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{wallet.port}") as client:
        await client.post("/raw/warm-up", content=body)
        for n in range(count):
            token = f"h{n}"
            sent[token] = time.perf_counter()
            await client.post(f"/raw/{token}", content=body)
            await asyncio.sleep(1 / rate)
    return [(wallet.raw[t] - sent[t]) * 1000 for t in sent if t in wallet.raw]


# The measured path


async def follow(
    client: httpx.AsyncClient,
    holder: str,
    token: str,
    opened: asyncio.Event,
    seen: dict[str, float],
    repeats: list[int],
) -> None:
    """One holder's SSE stream: the arrival of each credential id on it."""
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("GET", f"/v1/holders/{holder}/events", headers=headers) as answer:
        if answer.status_code != 200:
            raise RuntimeError(f"{holder}: {answer.status_code} {await answer.aread()!r}")
        opened.set()
        async for line in answer.aiter_lines():
            if line.startswith("data:"):
                credential = json.loads(line[5:])["data"]["credential_id"]
                if credential in seen:
                    repeats[0] += 1
                else:
                    seen[credential] = time.perf_counter()


async def measure(
    args: argparse.Namespace,
    run_id: str,
    issuer: ServiceProcess,
    revocation: ServiceProcess,
    notifier: ServiceProcess,
    wallet: Wallet,
    minter: HolderTokenMinter | None,
) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), limits=limits) as client:
        made = await client.post(
            f"{issuer.url}/v1/institutions",
            json={"slug": "bench-uni", "name": "Bench University"},
            headers=admin,
        )
        made.raise_for_status()
        did = made.json()["id"]
        key = await client.post(
            f"{issuer.url}/v1/institutions/{did}/api-keys", json={"label": "bench"}, headers=admin
        )
        key.raise_for_status()
        institution = {"Authorization": f"Bearer {key.json()['key']}"}
        log(f"institution {did}; API key scopes {key.json().get('scopes')}")

        # The notifier learns the key from credreg.institutions.
        deadline = time.monotonic() + 60
        while (
            await client.get(f"{notifier.url}/v1/subscriptions", headers=institution)
        ).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the notifier never accepted the institution's key")
            await asyncio.sleep(0.2)

        holders = [f"did:example:bench-{run_id}-{n}" for n in range(args.holders)]
        semaphore = asyncio.Semaphore(16)

        async def subscribe(n: int, holder: str) -> None:
            path = f"/wallet/{n}"
            for _ in range(20):
                async with semaphore:
                    answer = await client.post(
                        f"{notifier.url}/v1/subscriptions",
                        json={"holder_id": holder, "url": f"http://127.0.0.1:{wallet.port}{path}"},
                        headers=institution,
                    )
                if answer.status_code not in (409, 429):
                    break
                # Far below both limits: a racing first insert of the owner's quota counter
                # (its first place, or a new minute) refuses the others; counted and retried.
                spurious[answer.status_code] = spurious.get(answer.status_code, 0) + 1
                await asyncio.sleep(0.1)
            if answer.status_code != 201:
                raise RuntimeError(f"subscription {n}: {answer.status_code} {answer.text}")
            wallet.secrets[path] = answer.json()["secret"]

        spurious: dict[int, int] = {}
        started = time.perf_counter()
        await asyncio.gather(*(subscribe(n, h) for n, h in enumerate(holders)))
        subscribe_seconds = time.perf_counter() - started
        log(
            f"{len(holders):,} subscriptions in {subscribe_seconds:.1f} s (refusals under the "
            f"limits, retried: {spurious}); issuing"
        )

        async def issue(holder: str) -> str:
            body = {
                "holder_id": holder,
                "achievement": {"name": "Bench", "competencies": [{"name": "Latency"}]},
            }
            async with semaphore:
                answer = await client.post(
                    f"{issuer.url}/v1/credentials", json=body, headers=institution
                )
            answer.raise_for_status()
            return str(answer.json()["id"])

        started = time.perf_counter()
        credentials = await asyncio.gather(*(issue(h) for h in holders))
        issued_per_second = len(holders) / (time.perf_counter() - started)
        sentinels = await asyncio.gather(
            *(issue(f"did:example:bench-{run_id}-sentinel-{n}") for n in range(args.sentinels))
        )
        log(f"issued {len(credentials):,} at {issued_per_second:.0f}/s; waiting for revocation")

        async def revoke(credential: str, via: httpx.AsyncClient = client) -> int:
            answer = await via.post(
                f"{revocation.url}/v1/credentials/{credential}/revocation",
                json={"reason": "benchmark"},
                headers=institution,
            )
            return answer.status_code

        deadline = time.monotonic() + 120
        for sentinel in sentinels:
            while (status := await revoke(sentinel)) != 202:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the revocation service still answers {status}")
                await asyncio.sleep(0.2)
        await asyncio.sleep(args.settle)

        streams: dict[str, float] = {}
        repeats = [0]
        readers: list[asyncio.Task[None]] = []
        sse_client = None
        if minter is not None:
            sse_client = httpx.AsyncClient(
                base_url=notifier.url, limits=limits, timeout=httpx.Timeout(30.0, read=None)
            )
            openings = [asyncio.Event() for _ in holders]
            for holder, opened in zip(holders, openings, strict=True):
                token = minter.mint(holder, authenticated_by="institution")[0]
                readers.append(
                    asyncio.create_task(follow(sse_client, holder, token, opened, streams, repeats))
                )
            async with asyncio.timeout(120):
                await asyncio.gather(*(o.wait() for o in openings))
            await asyncio.sleep(2)
            log(f"{len(holders):,} SSE streams open")

        count = min(len(credentials), int(args.rate * args.seconds))
        targets = credentials[:count]
        log(f"revoking {count:,} at {args.rate}/s")
        posted: dict[str, float] = {}
        answered: dict[str, float] = {}
        refused: dict[str, int] = {}
        in_flight: list[asyncio.Task[None]] = []

        # Fresh connections: the server may have closed idle keep-alive ones meanwhile.
        poster = httpx.AsyncClient(timeout=httpx.Timeout(30.0), limits=limits)

        async def post_one(credential: str) -> None:
            posted[credential] = time.perf_counter()
            try:
                status = await revoke(credential, poster)
            except httpx.TransportError:
                status = -1  # no answer: counted as refused
            answered[credential] = time.perf_counter()
            if status != 202:
                refused[credential] = status

        started = time.perf_counter()
        for n, credential in enumerate(targets):
            # Open loop: send at the schedule whatever the answers' latency.
            delay = started + n / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            in_flight.append(asyncio.create_task(post_one(credential)))
        sending_seconds = time.perf_counter() - started
        await asyncio.gather(*in_flight)
        posting_seconds = time.perf_counter() - started
        await poster.aclose()
        expected = [c for c in targets if c not in refused]

        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            webhooks_done = all(c in wallet.by_credential for c in expected)
            streams_done = minter is None or all(c in streams for c in expected)
            if webhooks_done and streams_done:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # a duplicate would show up now
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        if sse_client is not None:
            await sse_client.aclose()
        deliveries = await client.get(
            f"{notifier.url}/metrics", headers=institution
        )  # attempt outcomes, for the record

    webhook_ms = [
        (wallet.by_credential[c] - posted[c]) * 1000 for c in expected if c in wallet.by_credential
    ]
    sse_ms = [(streams[c] - posted[c]) * 1000 for c in expected if c in streams]
    post_ms = [(answered[c] - posted[c]) * 1000 for c in targets]
    attempts = [
        line
        for line in deliveries.text.splitlines()
        if line.startswith("credreg_webhook_attempts_total")
    ]
    return {
        "institution": did,
        "subscriptions": len(holders),
        "subscribe_seconds": round(subscribe_seconds, 1),
        "subscribe_refusals_retried": spurious,
        "issued_per_second": round(issued_per_second),
        "revocations": count,
        "sent_rate": round(count / sending_seconds, 1),
        "answered_rate": round(count / posting_seconds, 1),
        "refused": {c: s for c, s in refused.items()},
        "revocation_post_answer": latency_summary(post_ms),
        "revocation_to_webhook": latency_summary(webhook_ms),
        "webhooks_lost": len(expected) - len(webhook_ms),
        "webhooks_received": wallet.received,
        "webhook_duplicates": wallet.duplicates,
        "signatures_verified": wallet.verified,
        "signatures_bad": wallet.bad_signatures,
        "unknown_paths": wallet.unknown_paths,
        "revocation_to_sse": latency_summary(sse_ms) if minter is not None else None,
        "sse_lost": len(expected) - len(sse_ms) if minter is not None else None,
        "sse_repeats": repeats[0] if minter is not None else None,
        "notifier_webhook_attempts": attempts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holders", type=int, default=1_000, help="subscriptions (one each)")
    parser.add_argument("--rate", type=float, default=100.0, help="revocations per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to revoke")
    parser.add_argument("--concurrency", type=int, default=4, help="DELIVERY_CONCURRENCY")
    parser.add_argument("--poll", type=float, default=0.2, help="DELIVERY_POLL_SECONDS")
    parser.add_argument("--sse", action="store_true", help="also measure every holder's stream")
    parser.add_argument("--sentinels", type=int, default=6)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before revoking")
    parser.add_argument("--timeout", type=float, default=60.0, help="wait for the last webhook")
    parser.add_argument("--verify-every", type=int, default=10, help="signature sample")
    args = parser.parse_args()
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    run_id = uuid.uuid4().hex[:8]
    namespace = f"benchwh{run_id}"
    work = REPO / ".local" / "bench-webhooks" / namespace
    ports = {name: free_port() for name in ("issuer", "revocation", "notifier")}
    issuer_host = f"localhost:{ports['issuer']}"
    holder_key = Ed25519KeyPair.generate()
    env = {
        "CREDREG_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CREDREG_MONGODB_URI": os.environ["MONGODB_URI"],
        "CREDREG_TOPIC_NAMESPACE": f"{namespace}.",
        "CREDREG_LOG_LEVEL": "WARNING",
    }
    issuer_env = {
        **env,
        "CREDREG_MONGODB_DATABASE": f"{namespace}_issuer",
        "CREDREG_ADMIN_API_KEY": ADMIN_KEY,
        "CREDREG_KEY_ENCRYPTION_KEY": f"bench:{KeyEncryptionKeyring.generate_kek()}",
        "CREDREG_DID_WEB_HOST": issuer_host,
        "CREDREG_STATUS_LIST_BASE_URL": f"http://{issuer_host}",
    }
    notifier_env = {
        **env,
        "CREDREG_MONGODB_DATABASE": f"{namespace}_notifier",
        "CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
        "CREDREG_SUBSCRIPTIONS_PER_OWNER": str(max(20, args.holders + 10)),
        "CREDREG_SUBSCRIPTIONS_CREATED_PER_MINUTE": "10000",  # the setting's maximum
        "CREDREG_DELIVERY_CONCURRENCY": str(args.concurrency),
        "CREDREG_DELIVERY_POLL_SECONDS": str(args.poll),
        "CREDREG_KEY_ENCRYPTION_KEY": f"benchwh:{KeyEncryptionKeyring.generate_kek()}",
        "CREDREG_HOLDER_TOKEN_KEY": holder_key.secret_multikey,
    }
    services = [
        ServiceProcess("issuer", ports["issuer"], issuer_env, work / "issuer.log"),
        ServiceProcess(
            "revocation",
            ports["revocation"],
            {**env, "CREDREG_MONGODB_DATABASE": f"{namespace}_revocation"},
            work / "revocation.log",
        ),
        ServiceProcess("notifier", ports["notifier"], notifier_env, work / "notifier.log"),
    ]
    result: dict[str, Any] = {
        "benchmark": "webhooks",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": vars(args),
        "namespace": namespace,
        "target_p99_ms": TARGET_P99_MS,
    }
    count = int(args.rate * args.seconds)
    wallet = Wallet(verify_every=args.verify_every)
    wallet.start()
    try:
        log(f"raw baselines: Kafka produce → consume and loopback POST, {count} at {args.rate}/s")
        result["raw_kafka_produce_to_consume"] = latency_summary(
            asyncio.run(raw_kafka_latency(bootstrap, count, args.rate))
        )
        result["raw_loopback_post_to_wallet"] = latency_summary(
            asyncio.run(raw_http_latency(wallet, count, args.rate))
        )
        try:
            for service in services:
                service.start()
            for service in services:
                service.wait_ready()
            minter = HolderTokenMinter(holder_key) if args.sse else None
            result.update(
                asyncio.run(measure(args, run_id, *services, wallet=wallet, minter=minter))
            )
        finally:
            for service in services:
                service.stop()
    finally:
        wallet.stop()
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    RUNS.mkdir(exist_ok=True)
    path = RUNS / f"webhooks-{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"{'figure':48} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'n':>6}")
    rows = [
        ("revocation POST → wallet webhook received", result["revocation_to_webhook"]),
        ("revocation POST → holder's SSE stream", result["revocation_to_sse"]),
        ("revocation POST → its 202 answer", result["revocation_post_answer"]),
        ("raw: Kafka produce (acks=all) → consumed", result["raw_kafka_produce_to_consume"]),
        ("raw: loopback POST → wallet received", result["raw_loopback_post_to_wallet"]),
    ]
    for label, row in rows:
        if row is None:
            continue
        print(
            f"{label:48} {row['p50_ms']:>8} {row['p90_ms']:>8} {row['p99_ms']:>8} "
            f"{row['max_ms']:>8} {row['count']:>6}"
        )
    print(
        f"subscriptions {result['subscriptions']}, revocations {result['revocations']} at "
        f"{result['sent_rate']}/s (all answered at {result['answered_rate']}/s), refused "
        f"{len(result['refused'])}, webhooks lost "
        f"{result['webhooks_lost']}, duplicates {result['webhook_duplicates']}, signatures "
        f"verified {result['signatures_verified']} / bad {result['signatures_bad']}"
        + (
            f", SSE lost {result['sse_lost']}, SSE repeats {result['sse_repeats']}"
            if args.sse
            else ""
        )
    )
    print(f"\nwritten {path.relative_to(REPO)}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
