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
import base64
import contextlib
import hashlib
import json
import os
import subprocess
import sys
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
sys.path.insert(0, str(REPO / "bench" / "registry"))
from baseline import latency_summary, raw_kafka_latency  # noqa: E402
from loadgen import BIN, ensure_tool  # noqa: E402
from service_processes import ServiceProcess, free_port  # noqa: E402

ADMIN_KEY = "bench-admin-key"
TARGET_P99_MS = 250.0


def log(message: str) -> None:
    print(f"[bench-webhooks] {message}", flush=True)


# The loopback wallet and the load generator, in Go: neither takes the CPU it measures from
# the services (the Python wallet and client used to take a third of a core at 100/s).

WALLET_DIR = HERE / "wallet"


def ensure_wallet() -> Path:
    """The Go wallet, built once per version of its source into the cache."""
    source = b"".join((WALLET_DIR / name).read_bytes() for name in ("go.mod", "main.go"))
    binary = BIN / f"bench-wallet-{hashlib.sha256(source).hexdigest()[:12]}"
    if not binary.exists():
        log("building the Go wallet (first run only)")
        BIN.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["go", "build", "-o", str(binary), "."],
            cwd=WALLET_DIR,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
            check=True,
        )
    return binary


@dataclass
class Wallet:
    """The Go wallet as a process: records each POST's arrival (wall clock, ns) with the
    headers and body a signature check needs, and follows holders' live streams on request."""

    secrets: dict[str, str] = field(default_factory=dict)  # path → whsec_ secret
    port: int = 0
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([str(ensure_wallet())], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline().split()
        if first[:1] != ["listening"]:
            raise RuntimeError(f"the Go wallet did not start: {first}")
        self.port = int(first[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    async def status(self, client: httpx.AsyncClient) -> dict[str, int]:
        return (await client.get(f"{self.url}/_control/status")).json()

    async def dump(self, client: httpx.AsyncClient) -> dict[str, Any]:
        return (await client.get(f"{self.url}/_control/dump", timeout=60)).json()


def verify_sample(
    arrivals: list[dict[str, Any]], secrets: dict[str, str], every: int
) -> tuple[int, int]:
    """Every `every`-th arrival's Standard Webhooks signature checked: (verified, bad)."""
    verified = bad = 0
    for n, arrival in enumerate(arrivals):
        if n % every or arrival["path"] not in secrets:
            continue
        headers = {
            "webhook-id": arrival["webhook_id"],
            "webhook-timestamp": arrival["webhook_timestamp"],
            "webhook-signature": arrival["webhook_signature"],
        }
        try:
            Webhook(secrets[arrival["path"]]).verify(arrival["body"].encode(), headers)
            verified += 1
        except Exception:  # noqa: BLE001 - any failure is a bad signature, counted
            bad += 1
    return verified, bad


def ns_of(timestamp: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to nine decimals (vegeta's)."""
    base, _, fraction = timestamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(base).replace(tzinfo=UTC).timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


def fire(
    vegeta: Path, targets: list[dict[str, Any]], *, rate: float, workdir: Path
) -> list[dict[str, Any]]:
    """Each target sent once, open loop at `rate`/s, by vegeta; its results as JSON dicts."""
    workdir.mkdir(parents=True, exist_ok=True)
    targets_file = workdir / "targets.jsonl"
    targets_file.write_text("".join(json.dumps(t) + "\n" for t in targets))
    results = workdir / "results.bin"
    seconds = len(targets) / rate
    subprocess.run(
        [
            str(vegeta),
            "attack",
            "-format=json",
            "-lazy",
            f"-targets={targets_file}",
            f"-rate={rate:g}/1s",
            f"-duration={seconds:.3f}s",
            "-timeout=30s",
            f"-output={results}",
        ],
        check=True,
    )
    encoded = subprocess.run(
        [str(vegeta), "encode", "--to", "json", str(results)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in encoded.stdout.splitlines() if line.strip()]


def post_target(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """A vegeta JSON target: a POST of `body` as JSON."""
    return {
        "method": "POST",
        "url": url,
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "header": {"Content-Type": ["application/json"], **{k: [v] for k, v in headers.items()}},
    }


def raw_http_latency(vegeta: Path, wallet: Wallet, count: int, rate: float, workdir: Path):
    """A plain POST from vegeta to the wallet → its answer, ms (the loopback floor)."""
    targets = [
        post_target(f"{wallet.url}/raw/h{n}", {"type": "raw", "data": {"n": n}}, {})
        for n in range(count)
    ]
    results = fire(vegeta, targets, rate=rate, workdir=workdir / "raw-http")
    return [r["latency"] / 1e6 for r in results if r["code"] == 204]


# CPU per revocation: what each process spent, from /proc, whatever else the machine runs


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def stack_processes(services: dict[str, int], wallet: Wallet) -> dict[str, int]:
    """The pids to account: the services, this bench, its wallet, the Mongo-wire server and
    the Kafka broker of this run's infra (found by their command lines)."""
    pids = {**services, "bench (Python)": os.getpid()}
    if wallet.process is not None:
        pids["wallet (Go)"] = wallet.process.pid
    mongo_port = os.environ["MONGODB_URI"].rstrip("/").rsplit(":", 1)[-1]
    infra = os.environ.get("CREDREG_INFRA_DIR", "")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        line = _cmdline(int(entry.name))
        if "ferretdb" in line and f":{mongo_port} " in line + " ":
            pids["mongo-wire server"] = int(entry.name)
        elif "kafka" in line.lower() and infra and infra in line:
            pids["kafka"] = int(entry.name)
    return pids


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each process so far."""
    tick = os.sysconf("SC_CLK_TCK")
    spent = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        spent[name] = (int(fields[11]) + int(fields[12])) / tick
    return spent


def server_commands() -> dict[str, int]:
    """The Mongo-wire server's command counters (FerretDB's serverStatus), {} when absent."""
    from pymongo import MongoClient

    with MongoClient(os.environ["MONGODB_URI"], serverSelectionTimeoutMS=5000) as client:
        status = client.admin.command("serverStatus")
    commands = status.get("metrics", {}).get("commands", {})
    return {name: int(c.get("total", 0)) for name, c in commands.items() if isinstance(c, dict)}


# The measured path


async def measure(
    args: argparse.Namespace,
    run_id: str,
    issuer: ServiceProcess,
    revocation: ServiceProcess,
    notifier: ServiceProcess,
    wallet: Wallet,
    minter: HolderTokenMinter | None,
    vegeta: Path,
    workdir: Path,
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

        if minter is not None:
            specs = [
                {
                    "holder": holder,
                    "url": f"{notifier.url}/v1/holders/{holder}/events",
                    "token": minter.mint(holder, authenticated_by="institution")[0],
                }
                for holder in holders
            ]
            (await client.post(f"{wallet.url}/_control/streams", json=specs)).raise_for_status()
            deadline = time.monotonic() + 120
            while (status := await wallet.status(client))["open"] < len(holders):
                if status["failed"] or time.monotonic() > deadline:
                    raise RuntimeError(f"streams not open: {status}")
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)
            log(f"{len(holders):,} SSE streams open (followed by the Go wallet)")

        count = min(len(credentials), int(args.rate * args.seconds))
        targets = credentials[:count]
        log(f"revoking {count:,} at {args.rate}/s (vegeta, open loop)")
        accounted = stack_processes(
            {
                "issuer": issuer.process.pid,
                "revocation": revocation.process.pid,
                "notifier": notifier.process.pid,
            },
            wallet,
        )
        cpu_before = cpu_seconds(accounted)
        commands_before = await asyncio.to_thread(server_commands)
        wall_before = time.monotonic()
        results = await asyncio.to_thread(
            fire,
            vegeta,
            [
                post_target(
                    f"{revocation.url}/v1/credentials/{c}/revocation",
                    {"reason": "benchmark"},
                    institution,
                )
                for c in targets
            ],
            rate=args.rate,
            workdir=workdir / "revocations",
        )
        posted = {r["url"].split("/")[-2]: ns_of(r["timestamp"]) for r in results}
        post_ms = [r["latency"] / 1e6 for r in results]
        refused = {r["url"].split("/")[-2]: r["code"] for r in results if r["code"] != 202}
        first, last = min(posted.values()), max(posted.values())
        sent_rate = (len(results) - 1) / ((last - first) / 1e9) if last > first else 0.0
        answered_rate = len(results) / (
            (max(ns_of(r["timestamp"]) + r["latency"] for r in results) - first) / 1e9
        )
        expected = [c for c in targets if c in posted and c not in refused]

        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            status = await wallet.status(client)
            if status["webhooks"] >= len(expected) and (
                minter is None or status["events"] >= len(expected)
            ):
                break
            await asyncio.sleep(0.2)
        cpu_after = cpu_seconds(accounted)
        commands_after = await asyncio.to_thread(server_commands)
        wall = time.monotonic() - wall_before
        await asyncio.sleep(2)  # a duplicate would show up now
        seen = await wallet.dump(client)
        deliveries = await client.get(
            f"{notifier.url}/metrics", headers=institution
        )  # attempt outcomes, for the record

    by_credential: dict[str, int] = {}
    ids: set[str] = set()
    duplicates = unknown_paths = 0
    webhooks = [a for a in seen["arrivals"] or [] if a["path"].startswith("/wallet/")]
    for arrival in webhooks:
        if arrival["webhook_id"] in ids:
            duplicates += 1
            continue
        ids.add(arrival["webhook_id"])
        if arrival["path"] not in wallet.secrets:
            unknown_paths += 1
            continue
        credential = json.loads(arrival["body"])["data"]["credential_id"]
        by_credential.setdefault(credential, arrival["at_ns"])
    verified, bad = verify_sample(webhooks, wallet.secrets, args.verify_every)
    streams: dict[str, int] = {}
    repeats = 0
    for event in seen["events"] or []:
        credential = json.loads(event["data"])["data"]["credential_id"]
        if credential in streams:
            repeats += 1
        else:
            streams[credential] = event["at_ns"]
    webhook_ms = [(by_credential[c] - posted[c]) / 1e6 for c in expected if c in by_credential]
    sse_ms = [(streams[c] - posted[c]) / 1e6 for c in expected if c in streams]
    # Each second of sending on its own: whether the tail is a burst or a backlog.
    by_second: dict[int, list[float]] = {}
    for c in expected:
        if c in by_credential:
            second = int((posted[c] - first) / 1e9)
            by_second.setdefault(second, []).append((by_credential[c] - posted[c]) / 1e6)
    timeline = {
        second: {"p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"], "max_ms": s["max_ms"]}
        for second, values in sorted(by_second.items())
        if (s := latency_summary(values)) is not None
    }
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
        "sent_rate": round(sent_rate, 1),
        "answered_rate": round(answered_rate, 1),
        "refused": {c: s for c, s in refused.items()},
        "revocation_post_answer": latency_summary(post_ms),
        "revocation_to_webhook": latency_summary(webhook_ms),
        "revocation_to_webhook_by_second": timeline,
        "webhooks_lost": len(expected) - len(webhook_ms),
        "webhooks_received": len(webhooks),
        "webhook_duplicates": duplicates,
        "signatures_verified": verified,
        "signatures_bad": bad,
        "unknown_paths": unknown_paths,
        "revocation_to_sse": latency_summary(sse_ms) if minter is not None else None,
        "sse_lost": len(expected) - len(sse_ms) if minter is not None else None,
        "sse_repeats": repeats if minter is not None else None,
        "cpu_ms_per_revocation": {
            name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(1, count), 2)
            for name in cpu_after
            if name in cpu_before
        },
        "cpu_share_of_one_core": {
            name: round((cpu_after[name] - cpu_before[name]) / wall, 3)
            for name in cpu_after
            if name in cpu_before
        },
        "server_commands_per_revocation": {
            name: round((total - commands_before.get(name, 0)) / max(1, count), 2)
            for name, total in commands_after.items()
            if total - commands_before.get(name, 0) > 0
        },
        "load_generator": "vegeta (Go)",
        "wallet": "bench/webhooks/wallet (Go)",
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
    vegeta = ensure_tool().path
    wallet = Wallet()
    wallet.start()
    try:
        log(f"raw baselines: Kafka produce → consume and loopback POST, {count} at {args.rate}/s")
        result["raw_kafka_produce_to_consume"] = latency_summary(
            asyncio.run(raw_kafka_latency(bootstrap, count, args.rate))
        )
        result["raw_loopback_post_to_wallet"] = latency_summary(
            raw_http_latency(vegeta, wallet, count, args.rate, work)
        )
        try:
            for service in services:
                service.start()
            for service in services:
                service.wait_ready()
            minter = HolderTokenMinter(holder_key) if args.sse else None
            result.update(
                asyncio.run(
                    measure(
                        args,
                        run_id,
                        *services,
                        wallet=wallet,
                        minter=minter,
                        vegeta=vegeta,
                        workdir=work,
                    )
                )
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
        ("raw: loopback POST → wallet answered", result["raw_loopback_post_to_wallet"]),
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
    print(
        "webhook p99 by second of sending (ms): "
        + ", ".join(
            f"{n}: {v['p99_ms']:.0f}" for n, v in result["revocation_to_webhook_by_second"].items()
        )
    )
    print(
        "CPU ms per revocation (from /proc, revoke phase): "
        + ", ".join(f"{k} {v}" for k, v in result["cpu_ms_per_revocation"].items())
    )
    print(
        "Mongo-wire commands per revocation (whole server, revoke phase): "
        + ", ".join(f"{k} {v}" for k, v in result["server_commands_per_revocation"].items())
    )
    print(f"\nwritten {path.relative_to(REPO)}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
