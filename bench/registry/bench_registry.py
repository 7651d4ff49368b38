"""Benchmark: the registry service at 1,000,000 credentials, with a raw-stack baseline.

Run: `make bench-registry` (or scripts/bench-registry.sh [flags]). Steps: raw aiokafka and PyMongo
baseline; N `credential.issued` events (+2 % `credential.revoked`) produced to a fresh topic
namespace; the registry started as a real process on that backlog (projection rate); a 20,000
credential "convocation" on top (time until visible); employer search, share links and pathways
set up (`search_setup.py`); vegeta reads per route at a fixed rate, then consent PUTs; peak
memory of the registry and of the Mongo-wire server. Prints a table, writes
bench/results/registry-<timestamp>.json. Numbers only: it does not pass or fail.

Environment: KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI (set by the shell script from the local
infra), CREDREG_INFRA_DIR (where the infra keeps mongo.pid and mongo-data; default .local/infra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest
from consents import consent_in_bulk
from dataset import (
    INSTITUTIONS,
    Dataset,
    Event,
    check_decodes,
    convocation,
    holder_id,
)
from loadgen import ReadResult, attack, ensure_tool, log
from pymongo import MongoClient
from search_setup import (
    CONSENT_BODY,
    SEARCH_LIMIT,
    api_keys,
    create_share_links,
    define_pathways,
    holder_number,
    pathway_plan,
    portfolio_filters,
    search_targets,
    setup_samples,
)

from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.events.topics import CREDENTIALS_TOPIC, PATHWAYS_TOPIC, dlq_topic
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging.topics_admin import ensure_topics

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))  # bench/: reuse baseline.py's raw-stack measurements
sys.path.insert(0, str(REPO / "deploy" / "local"))
import baseline  # noqa: E402
from service_processes import free_port  # noqa: E402

RESULTS = REPO / "bench" / "results"
STATE_FILE = RESULTS / "registry-state.json"
WORK = REPO / ".local" / "bench-registry"
STALL_SECONDS = 300.0
PORTFOLIO_PAGE = 100
ROUTES = (
    "portfolio",
    "portfolio filtered",
    "credential",
    "verification",
    "search (mix)",
    "search competency",
    "search competency+type",
    "search 3 filters",
    "shared link",
    "holder pathways",
    "stats",
)
CONSENT_ROUTE = "consent (PUT searchable)"


# --- small helpers ---------------------------------------------------------------------------


# Credentials and portfolios are their holders' (#12): the benchmark reads them with holder
# tokens of a key it gives the registry (a target is "URL" or "URL\nHeader: value", as vegeta
# reads targets).
HOLDER_TOKEN_KEY = Ed25519KeyPair.generate()
_MINTER = HolderTokenMinter(HOLDER_TOKEN_KEY, lifetime=timedelta(hours=12))


def as_holder(url: str, holder: str) -> str:
    """A target that reads `url` with `holder`'s token."""
    token, _ = _MINTER.mint(holder, authenticated_by="bench")
    return f"{url}\nAuthorization: Bearer {token}"


def get_json(target: str, timeout: float = 10.0) -> tuple[int, Any]:
    """GET a target (a URL, maybe with header lines); (status, parsed JSON or None)."""
    url, *lines = target.split("\n")
    headers = dict(line.split(": ", 1) for line in lines)
    try:
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def quote(value: str) -> str:
    """Percent-encode a path segment or query value completely (colons, slashes too)."""
    return urllib.parse.quote(value, safe="")


def dir_bytes(path: Path, prefix: str = "") -> int:
    """Disk usage (allocated blocks, not apparent size: Kafka preallocates its index files) of
    the files under `path` whose name starts with `prefix`."""
    if not path.exists():
        return 0
    return sum(
        f.stat().st_blocks * 512
        for f in path.rglob("*")
        if f.is_file() and f.name.startswith(prefix)
    )


def proc_status_kb(pid: int | None, field: str) -> int | None:
    """A /proc/<pid>/status value in kB (VmRSS, VmHWM), or None if the process is gone."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """Every descendant pid of `pid`."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            frontier += kids
    return found


def mib(kb: int | None) -> float | None:
    """kB → MiB, rounded."""
    return None if kb is None else round(kb / 1024, 1)


# --- memory sampling -------------------------------------------------------------------------


class MemorySampler:
    """Samples VmRSS of named processes twice a second; keeps the peak per process and phase."""

    def __init__(self) -> None:
        self.pids: dict[str, int | None] = {}
        self.phase = "start"
        self.peaks: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(2)

    def sample(self) -> None:
        """Take one sample now."""
        for name, pid in list(self.pids.items()):
            rss = proc_status_kb(pid, "VmRSS")
            if rss is not None:
                phase = self.peaks.setdefault(name, {})
                phase[self.phase] = max(phase.get(self.phase, 0), rss)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def peak_kb(self, name: str) -> int | None:
        """The peak RSS of a process over every phase."""
        return max(self.peaks.get(name, {}).values(), default=None)


# --- Kafka -----------------------------------------------------------------------------------


async def produce(
    bootstrap: str, topic: str, events: Iterable[tuple[Event, bool]], total: int, label: str
) -> dict[str, Any]:
    """Produce every event (idempotent, acks=all, batched); rate of generation + send + ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="bench-registry",
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        compression_type=None,  # lz4/zstd need packages credreg does not install
    )
    await producer.start()
    sent = issued = 0
    size = 0
    pending: list[asyncio.Future[Any]] = []
    started = last_log = time.perf_counter()
    try:
        for event, is_issued in events:
            pending.append(
                await producer.send(topic, event.value, key=event.key, headers=event.headers)
            )
            sent += 1
            issued += is_issued
            size += len(event.value)
            if len(pending) >= 20_000:
                await asyncio.gather(*pending[:10_000])
                del pending[:10_000]
            now = time.perf_counter()
            if now - last_log >= 10:
                last_log = now
                log(
                    f"{label}: {sent:,}/{total:,} records produced "
                    f"({sent / (now - started):,.0f}/s)"
                )
        await asyncio.gather(*pending)
        last_ack = time.perf_counter()
    finally:
        await producer.stop()
    seconds = last_ack - started
    return {
        "records": sent,
        "issued": issued,
        "revoked": sent - issued,
        "seconds": round(seconds, 2),
        "per_second": round(sent / seconds),
        "megabytes": round(size / 1e6, 1),
        "mb_per_second": round(size / 1e6 / seconds, 1),
        "mean_record_bytes": round(size / max(1, sent)),
        "last_ack_monotonic": time.monotonic(),
    }


async def consumer_groups(bootstrap: str) -> set[str]:
    """The consumer groups the cluster knows."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {group[0] for group in await admin.list_consumer_groups()}
    finally:
        await admin.close()


async def delete_topics_and_group(bootstrap: str, topics: list[str], group: str) -> None:
    """Delete topics that exist and a consumer group (aiokafka's admin has no call for that:
    a raw DeleteGroups request to the group's coordinator)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in topics if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
        try:
            coordinator = await admin.find_coordinator(group)
            await admin._client.send(coordinator, DeleteGroupsRequest([group]))
        except Exception as error:  # noqa: BLE001 - a left-over group is harmless
            log(f"could not delete consumer group {group}: {error!r}")
    finally:
        await admin.close()


# --- the registry process --------------------------------------------------------------------


class Registry:
    """The registry as a real process: `scripts/uv.sh run --frozen python -m credreg_registry`."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env = env
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.python_pid: int | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn it in its own session (Ctrl-C reaches us, and we stop it)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                ["scripts/uv.sh", "run", "--frozen", "python", "-m", "credreg_registry"],
                cwd=REPO,
                env={**os.environ, **self.env, "CREDREG_HTTP_PORT": str(self.port)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def find_python(self) -> int | None:
        """The pid of the Python interpreter running the service (uv runs it as a child)."""
        if self.process is None:
            return None
        for pid in [self.process.pid, *children(self.process.pid)]:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"credreg_registry" in argv and b"run" not in argv[:2]:
                self.python_pid = pid
        return self.python_pid

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Poll /readyz until 200; fail with the log tail if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the registry exited during start-up:\n{self.tail()}")
            if get_json(f"{self.url}/readyz", timeout=2)[0] == 200:
                self.find_python()
                return
            time.sleep(0.2)
        raise RuntimeError(f"the registry was not ready after {timeout:.0f}s:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM its process group, SIGKILL after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # its own session: group id == pid
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass
        log(f"registry stopped (exit {self.process.returncode})")

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stats(self) -> dict[str, Any] | None:
        """GET /v1/stats, or None."""
        status, body = get_json(f"{self.url}/v1/stats", timeout=5)
        return body if status == 200 else None


def wait_projected(
    registry: Registry, credentials: int, revoked: int, *, label: str, poll: float = 1.0
) -> tuple[float, dict[str, Any]]:
    """Poll stats until `credentials` issued and `revoked` revoked are visible; returns the
    monotonic time they first were, and the stats."""
    last_change = time.monotonic()
    last_seen: tuple[int, int] = (-1, -1)
    last_log = time.monotonic()
    logged: tuple[float, int] | None = None  # (time, credentials) of the last progress line
    while True:
        if not registry.alive():
            raise RuntimeError(f"the registry exited:\n{registry.tail()}")
        stats = registry.stats() or {}
        now = time.monotonic()
        seen = (int(stats.get("credentials", 0)), int(stats.get("by_status", {}).get("revoked", 0)))
        if seen[0] >= credentials and seen[1] >= revoked:
            return now, stats
        if seen != last_seen:
            last_seen, last_change = seen, now
        elif now - last_change > STALL_SECONDS:
            raise RuntimeError(
                f"{label}: no progress for {STALL_SECONDS:.0f}s at {seen[0]:,} credentials "
                f"({seen[1]:,} revoked); registry log:\n{registry.tail()}"
            )
        if logged is None:
            logged = (now, seen[0])
        elif now - last_log >= 10:
            last_log = now
            rate = (seen[0] - logged[1]) / max(1e-9, now - logged[0])
            logged = (now, seen[0])
            log(
                f"{label}: {seen[0]:,}/{credentials:,} credentials visible, "
                f"{seen[1]:,}/{revoked:,} revoked (last 10 s: {rate:,.0f} credentials/s)"
            )
        time.sleep(max(0.0, poll - (time.monotonic() - now)))


# --- reads -----------------------------------------------------------------------------------


def read_samples(dataset: Dataset, size: int, seed: int) -> dict[str, Any]:
    """Ids drawn from the loaded data, with what the registry should answer for them."""
    rng = random.Random(seed)
    counts = dataset.credentials_per_holder()
    revoked_of: dict[int, int] = {}
    holders = [rng.randrange(dataset.holders) for _ in range(size)]
    wanted = set(holders)
    # The heaviest holders too, so the portfolio check covers a full page.
    heaviest = sorted(range(dataset.holders), key=counts.__getitem__, reverse=True)[:5]
    wanted |= set(heaviest)
    credentials, revoked = [], []
    for index in range(dataset.count):
        holder = dataset.holder_of[index]
        pick = index % max(1, dataset.count // size) == 0
        if holder not in wanted and not pick:
            continue
        c = dataset.credential(index)
        if holder in wanted and c.revoked:
            revoked_of[holder] = revoked_of.get(holder, 0) + 1
        if pick and len(credentials) < size:
            credentials.append((c.credential_id, holder_id(holder)))
        if c.revoked and len(revoked) < 50:
            revoked.append(c.credential_id)
    rng.shuffle(credentials)
    competencies = [
        value
        for k in range(INSTITUTIONS)
        for j in range(10)
        for value in (f"https://esco.example/skill/{k}-{j}", f"U{k}-C{j}")
    ]
    return {
        "holders": [holder_id(h) for h in holders],
        "credential_holders": [h for _, h in credentials],
        "holder_checks": [
            {"holder": holder_id(h), "credentials": counts[h], "revoked": revoked_of.get(h, 0)}
            for h in [*heaviest, *holders[:15]]
        ],
        "credentials": [c for c, _ in credentials],
        "revoked": revoked,
        "competencies": competencies,
    }


def target_urls(base: str, samples: dict[str, Any], seed: int) -> dict[str, list[str]]:
    """The URLs each route's run replays."""
    rng = random.Random(seed)
    filtered = [
        (h, urllib.parse.urlencode(portfolio_filters(holder_number(h), rng)))
        for h in samples["holders"]
    ]
    return {
        "portfolio": [
            as_holder(f"{base}/v1/holders/{quote(h)}/credentials", h) for h in samples["holders"]
        ],
        "portfolio filtered": [
            as_holder(f"{base}/v1/holders/{quote(h)}/credentials?{query}", h)
            for h, query in filtered
        ],
        "credential": [
            as_holder(f"{base}/v1/credentials/{quote(c)}", h)
            for c, h in zip(samples["credentials"], samples["credential_holders"], strict=True)
        ],
        "verification": [
            f"{base}/v1/credentials/{quote(c)}/verification" for c in samples["credentials"]
        ],
        **search_targets(base, rng, len(samples["holders"])),
        "shared link": [f"{base}/v1/shared/{s}" for s in samples.get("share_secrets", [])],
        "holder pathways": [
            as_holder(f"{base}/v1/holders/{quote(h)}/pathways", h)
            for h in samples.get("pathway_holders", [])
        ],
        "stats": [f"{base}/v1/stats"],
        CONSENT_ROUTE: [
            as_holder(f"{base}/v1/credentials/{quote(c)}/searchable", h)
            for c, h in samples.get("api_consents", [])
        ],
    }


def sanity_checks(base: str, samples: dict[str, Any]) -> list[str]:
    """Check a few answers against the generated data; returns warnings (empty: all fine)."""
    warnings: list[str] = []
    for check in samples["holder_checks"]:
        holder = check["holder"]
        status, body = get_json(as_holder(f"{base}/v1/holders/{quote(holder)}/credentials", holder))
        listed = len((body or {}).get("credentials", [])) if status == 200 else None
        every = min(check["credentials"], PORTFOLIO_PAGE)
        unrevoked = min(check["credentials"] - check["revoked"], PORTFOLIO_PAGE)
        if listed not in (every, unrevoked):
            warnings.append(
                f"portfolio of {check['holder']}: HTTP {status}, {listed} credentials listed, "
                f"expected {every} (holder has {check['credentials']}, {check['revoked']} revoked)"
            )
    for cid, holder in list(
        zip(samples["credentials"], samples["credential_holders"], strict=True)
    )[:5]:
        status, body = get_json(as_holder(f"{base}/v1/credentials/{quote(cid)}", holder))
        if status != 200 or (body or {}).get("id") != cid:
            warnings.append(f"credential {cid}: HTTP {status}, id {(body or {}).get('id')!r}")
    for cid in samples["revoked"][:5]:
        status, body = get_json(f"{base}/v1/credentials/{quote(cid)}/verification")
        if status != 200 or (body or {}).get("status") != "revoked":
            warnings.append(
                f"verification of revoked {cid}: HTTP {status}, "
                f"status {(body or {}).get('status')!r}"
            )
    found_any = 0
    for competency in samples["competencies"][:8]:
        url = f"{base}/v1/search?competency={quote(competency)}&limit={SEARCH_LIMIT}"
        status, body = get_json(url)
        found = len((body or {}).get("credentials", [])) if status == 200 else None
        if found is None or found > SEARCH_LIMIT:
            warnings.append(f"search {competency}: HTTP {status}, {found} credentials")
        found_any += found or 0
        if any("holder_id" in hit for hit in (body or {}).get("credentials", [])):
            warnings.append(f"search {competency}: a hit names its holder")
    if not found_any:
        warnings.append("employer search found nothing for 8 competencies")
    for path in ("/v1/search", "/v1/search?status=active", "/v1/search/credentials"):
        status, _ = get_json(f"{base}{path}")
        if status != (404 if path.endswith("credentials") else 400):
            warnings.append(f"GET {path}: HTTP {status}")
    for secret in samples.get("share_secrets", [])[:3]:
        status, body = get_json(f"{base}/v1/shared/{secret}")
        if status != 200 or not (body or {}).get("credentials"):
            warnings.append(
                f"shared link: HTTP {status}, {len((body or {}).get('credentials', []))}"
            )
    started = 0
    for holder in samples.get("pathway_holders", [])[:10]:
        status, body = get_json(as_holder(f"{base}/v1/holders/{quote(holder)}/pathways", holder))
        started += len(body or []) if status == 200 else 0
        if status != 200:
            warnings.append(f"pathways of {holder}: HTTP {status}")
    if samples.get("pathway_holders") and not started:
        warnings.append("no pathway shows in the progress of 10 holders of its achievements")
    return warnings


# --- main ------------------------------------------------------------------------------------


def events_progress(dataset: Dataset) -> Iterator[tuple[Event, bool]]:
    """The dataset's events, checking that the first ones decode like a consumer decodes them."""
    for n, (event, is_issued) in enumerate(dataset.events()):
        if n < 200 or n % 50_000 == 0:
            check_decodes(event)
        yield event, is_issued


def machine() -> dict[str, Any]:
    """Where it ran (baseline.machine)."""
    return baseline.machine()


def run(args: argparse.Namespace) -> dict[str, Any]:  # noqa: C901 - one linear script
    """Every phase; returns the JSON-ready result."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    uri = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/")
    infra = Path(os.environ.get("CREDREG_INFRA_DIR", REPO / ".local" / "infra")).resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = WORK / stamp
    result: dict[str, Any] = {
        "benchmark": "registry",
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "kafka": bootstrap,
        "mongodb": uri.split("@")[-1],
        "notes": [
            "credential documents are real signed OB 3.0 VCs per achievement template, with ids, "
            "holder, dates and status index substituted: proofs are copied, not valid (the "
            "registry does not verify proofs on projection or reads)",
            "produce rate includes generating each record in Python; the dataset producer "
            "batches up to 512 KB (linger 20 ms), the raw baseline (bench/baseline.py) uses "
            "aiokafka's default 16 KB batches (linger 5 ms), so it is slower per record",
            "convocation: N new holders of one institution and two achievements, issued now",
        ],
    }
    sampler = MemorySampler()
    ferret_pid = _read_pid(infra / "mongo.pid")
    sampler.pids["mongo_server"] = ferret_pid
    mongo_rss_idle = proc_status_kb(ferret_pid, "VmRSS")
    sampler.start()
    tool = ensure_tool()
    log(f"load generator: {tool.name} {tool.version} ({tool.path})")
    if args.skip_load:
        state = json.loads(STATE_FILE.read_text())
        log(f"--skip-load: reusing {state['database']} / {state['topic']} from {STATE_FILE}")
        dataset_info = state
    else:
        state = None
        dataset_info = {
            "namespace": f"bench{stamp.lower()}.",
            "database": f"bench_registry_{stamp.lower()}",
            "consumer_group": f"bench-registry-{stamp.lower()}",
            "credentials": args.credentials,
            "seed": args.seed,
        }
        dataset_info["topic"] = dataset_info["namespace"] + CREDENTIALS_TOPIC
    result["dataset"] = dataset_info
    topic = dataset_info["topic"]
    registry = Registry(
        {
            "CREDREG_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CREDREG_MONGODB_URI": uri,
            "CREDREG_MONGODB_DATABASE": dataset_info["database"],
            "CREDREG_TOPIC_NAMESPACE": dataset_info["namespace"],
            "CREDREG_CONSUMER_GROUP": dataset_info["consumer_group"],
            "CREDREG_LOG_LEVEL": "WARNING",
            "CREDREG_HOLDER_TOKEN_KEY": HOLDER_TOKEN_KEY.secret_multikey,
            # The institutions that define pathways (keys in settings have every scope).
            "CREDREG_API_KEYS": json.dumps(api_keys(args.pathways)),
        },
        free_port(),
        work / "registry.log",
    )
    cleanup = not args.keep and not args.skip_load
    setup: dict[str, Any] = {}
    try:
        if not args.skip_load:
            count = min(args.baseline_count, args.credentials)
            dataset = Dataset(args.credentials, seed=args.seed)
            log(
                f"dataset: {dataset.count:,} credentials, {dataset.holders:,} holders, "
                f"{INSTITUTIONS} institutions (seed {args.seed})"
            )
            record_bytes = round(
                sum(len(dataset.issued_record(dataset.credential(i)).value) for i in range(200))
                / 200
            )
            # --- raw-stack baseline, same record size, machine still quiet -----------------
            baseline.RECORD_BYTES = record_bytes  # baseline.payload pads records to this size
            log(f"raw baseline: aiokafka produce/consume {count:,} records of {record_bytes} B")
            groups_before = asyncio.run(consumer_groups(bootstrap))
            kafka_phases = asyncio.run(baseline.kafka_round(bootstrap, count))
            for group in asyncio.run(consumer_groups(bootstrap)) - groups_before:
                if group.startswith("bench-baseline-"):  # kafka_round leaves its group behind
                    asyncio.run(delete_topics_and_group(bootstrap, [], group))
            log(f"raw baseline: PyMongo bulk upsert {count:,} documents, 500 per unordered bulk")
            mongo_phases = asyncio.run(baseline.mongo_round(uri, count, batch=500))
            result["baseline"] = {
                "record_bytes": record_bytes,
                "phases": [
                    {
                        "name": p.name,
                        "items": p.items,
                        "seconds": round(p.seconds, 2),
                        "per_second": round(p.per_second),
                        "mb_per_second": round(p.mb_per_second, 1),
                    }
                    for p in kafka_phases + mongo_phases
                ],
            }
            for p in result["baseline"]["phases"]:
                log(f"  {p['name']}: {p['per_second']:,}/s")
            # --- load --------------------------------------------------------------------
            sampler.phase = "load"
            asyncio.run(ensure_topics(bootstrap, {topic: 3}))
            log(f"producing {dataset.count:,} credentials to {topic} (3 partitions)")
            revoked = dataset.revoked_count()
            dataset_info["revoked"] = revoked
            produced = asyncio.run(
                produce(bootstrap, topic, events_progress(dataset), dataset.count + revoked, "load")
            )
            produced.pop("last_ack_monotonic")
            result["produce"] = produced
            log(
                f"produced {produced['records']:,} records in {produced['seconds']:.1f}s "
                f"({produced['per_second']:,}/s, {produced['mb_per_second']} MB/s)"
            )
            log("sampling read targets from the dataset")
            dataset_info["samples"] = read_samples(dataset, args.samples, args.seed)
            setup = setup_samples(
                dataset,
                share=args.searchable_share,
                api_consents=args.consent_rate * args.read_seconds * 6 // 5 + 10,
                pathways=args.pathways,
                size=args.samples,
                seed=args.seed,
            )
        # --- projection of the backlog ---------------------------------------------------
        sampler.phase = "projection"
        started = time.monotonic()
        registry.start()
        log(f"registry starting on port {registry.port} (log {registry.log_path})")
        registry.wait_ready()
        sampler.pids["registry"] = registry.python_pid
        ready = time.monotonic()
        log(f"registry ready in {ready - started:.1f}s (pid {registry.python_pid})")
        expected = int(dataset_info.get("expected_credentials", dataset_info["credentials"]))
        revoked = int(dataset_info["revoked"])
        done, stats = wait_projected(registry, expected, revoked, label="projection")
        events = expected + revoked
        seconds = done - ready
        result["projection"] = {
            "events": events,
            "credentials": expected,
            "revoked": revoked,
            "seconds_from_ready": round(seconds, 1),
            "seconds_from_start": round(done - started, 1),
            "startup_seconds": round(ready - started, 1),
            # With --skip-load there is no backlog: only the time to be caught up again.
            "per_second": round(events / max(seconds, 1e-9)) if not args.skip_load else None,
            "stats": stats,
            "backlog": not args.skip_load,
        }
        log(f"projection: {events:,} events visible {seconds:.1f}s after ready")
        # --- a convocation on top ---------------------------------------------------------
        if not args.skip_load and args.convocation > 0:
            sampler.phase = "convocation"
            log(f"convocation: producing {args.convocation:,} more credentials")
            produced = asyncio.run(
                produce(
                    bootstrap,
                    topic,
                    ((e, True) for e in convocation(dataset, args.convocation)),
                    args.convocation,
                    "convocation",
                )
            )
            acked = produced.pop("last_ack_monotonic")
            visible, _ = wait_projected(
                registry, expected + args.convocation, revoked, label="convocation"
            )
            lag = visible - acked
            result["convocation"] = {
                **produced,
                "seconds_last_ack_to_visible": round(lag, 1),
                "seconds_first_send_to_visible": round(lag + produced["seconds"], 1),
                "per_second_end_to_end": round(
                    args.convocation / max(lag + produced["seconds"], 1e-9)
                ),
            }
            dataset_info["expected_credentials"] = expected + args.convocation
            log(f"convocation: all visible {lag:.1f}s after the last ack")
        # --- employer search, share links, pathways -------------------------------------
        if not args.skip_load:
            sampler.phase = "search setup"
            result["search_setup"] = search_setup(registry, uri, dataset_info, setup, args)
        # --- reads ----------------------------------------------------------------------
        samples = dataset_info["samples"]
        if "credential_holders" not in samples:
            raise SystemExit(
                "the kept dataset predates private reads (no credential holders in its "
                "samples): load it again without --skip-load"
            )
        warnings = sanity_checks(registry.url, samples)
        for warning in warnings:
            log(f"WARNING: {warning}")
        if not warnings:
            log("sanity checks passed (portfolios, ids, statuses, search, 4xx, links, pathways)")
        result["warnings"] = warnings
        sampler.phase = "reads"
        urls = target_urls(registry.url, samples, args.seed)
        reads: list[ReadResult] = []
        for route in ROUTES:
            if not urls[route]:
                log(f"reads: {route} skipped (nothing of it was set up)")
                continue
            log(f"reads: {route} at {args.rate}/s for {args.read_seconds}s")
            reads.append(
                attack(
                    tool,
                    route,
                    urls[route],
                    rate=args.rate,
                    seconds=args.read_seconds,
                    workdir=work,
                )
            )
        # Writes last, so that the reads above saw the same data. Each PUT consents a credential
        # for the first time (posting it under its keys); a kept dataset's were consented then.
        if urls[CONSENT_ROUTE] and not args.skip_load and args.consent_rate > 0:
            sampler.phase = "consents"
            log(f"writes: {CONSENT_ROUTE} at {args.consent_rate}/s for {args.read_seconds}s")
            reads.append(
                attack(
                    tool,
                    CONSENT_ROUTE,
                    urls[CONSENT_ROUTE],
                    rate=args.consent_rate,
                    seconds=args.read_seconds,
                    workdir=work,
                    method="PUT",
                    body=CONSENT_BODY,
                )
            )
        result["reads"] = [r.as_json() for r in reads]
        # --- memory and disk -------------------------------------------------------------
        sampler.sample()
        result["memory"] = {
            "registry_peak_rss_mib_sampled": mib(sampler.peak_kb("registry")),
            "registry_vmhwm_mib": mib(proc_status_kb(registry.python_pid, "VmHWM")),
            "registry_peak_rss_mib_by_phase": {
                k: mib(v) for k, v in sampler.peaks.get("registry", {}).items()
            },
            "mongo_server_pid": ferret_pid,
            "mongo_server_rss_mib_before": mib(mongo_rss_idle),
            "mongo_server_peak_rss_mib_sampled": mib(sampler.peak_kb("mongo_server")),
            "mongo_server_vmhwm_mib": mib(proc_status_kb(ferret_pid, "VmHWM")),
            "mongo_server_peak_rss_mib_by_phase": {
                k: mib(v) for k, v in sampler.peaks.get("mongo_server", {}).items()
            },
        }
        data_dir = infra / "mongo-data"
        result["disk"] = {
            "mongo_data_dir": str(data_dir),
            "mongo_data_dir_mib": round(dir_bytes(data_dir) / 2**20, 1),
            "benchmark_database_mib": round(
                dir_bytes(data_dir, dataset_info["database"]) / 2**20, 1
            ),
            "kafka_topic_mib": round(
                sum(
                    dir_bytes(p)
                    for p in (infra / "kafka-data").glob(f"{topic}-*")
                    if p.name.rsplit("-", 1)[0] == topic
                )
                / 2**20,
                1,
            ),
        }
        # --- rebuild into the next generation while the registry serves ------------------
        if args.rebuild:
            sampler.phase = "rebuild"
            events = int(dataset_info.get("expected_credentials", dataset_info["credentials"]))
            events += int(dataset_info["revoked"])
            result["rebuild"] = timed_rebuild(registry, events, work)
        if args.keep or args.skip_load:
            STATE_FILE.parent.mkdir(exist_ok=True)
            STATE_FILE.write_text(json.dumps(dataset_info) + "\n")
            log(f"dataset kept: {dataset_info['database']}, {topic} (state in {STATE_FILE})")
    finally:
        registry.stop()
        sampler.stop()
        if cleanup:
            drop_dataset(bootstrap, uri, dataset_info)
    return result


def search_setup(
    registry: Registry, uri: str, info: dict[str, Any], setup: dict[str, Any], args: Any
) -> dict[str, Any]:
    """Consents (most in bulk), share links and pathways, made before the reads; their figures.
    The read targets they give go into the dataset's samples (kept with `--keep`)."""
    samples = info["samples"]
    figures: dict[str, Any] = {"searchable_share": args.searchable_share}
    bulk = [tuple(pair) for pair in setup["bulk_consents"]]
    log(f"search setup: {len(bulk):,} credentials made searchable in bulk")
    started = time.monotonic()
    with MongoClient(uri, tz_aware=True) as client:
        postings = consent_in_bulk(client[info["database"]], bulk)
    seconds = time.monotonic() - started
    figures["bulk_consents"] = {
        "credentials": len(bulk),
        "postings": postings,
        "seconds": round(seconds, 1),
    }
    log(f"search setup: {postings:,} postings in {seconds:.1f}s")
    samples["api_consents"] = setup["api_consents"]
    holders = samples["holders"][: args.share_links]
    log(f"search setup: {len(holders):,} share links made by their holders")
    started = time.monotonic()
    secrets, problems = create_share_links(
        registry.url, holders, lambda h: _MINTER.mint(h, authenticated_by="bench")[0]
    )
    seconds = time.monotonic() - started
    samples["share_secrets"] = secrets
    figures["share_links"] = {
        "made": len(secrets),
        "seconds": round(seconds, 1),
        "per_second": round(len(secrets) / max(seconds, 1e-9), 1),
        "problems": problems[:5],
    }
    plan = pathway_plan(args.pathways)
    log(f"search setup: {len(plan)} pathways defined, their back-fills awaited")
    defined, problems = define_pathways(registry.url, plan, stall_seconds=STALL_SECONDS)
    figures["pathways"] = {"defined": defined, "problems": problems}
    samples["pathway_holders"] = setup["pathway_holders"]
    for problem in [*figures["share_links"]["problems"], *problems]:
        log(f"WARNING: {problem}")
    return figures


def serving_generation(registry: Registry) -> int | None:
    """The view generation the registry's readers use, from its metrics."""
    try:
        with urllib.request.urlopen(f"{registry.url}/metrics", timeout=5) as response:  # noqa: S310
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    for line in text.splitlines():
        if line.startswith("credreg_registry_view_generation "):
            return int(float(line.split()[1]))
    return None


def timed_rebuild(registry: Registry, events: int, work: Path) -> dict[str, Any]:
    """`python -m credreg_registry rebuild` while the registry serves: its rate, the time until
    the registry's readers moved, and whether stats ever answered anything but the full count."""
    before = serving_generation(registry)
    expected = registry.stats()
    log(f"rebuild: replaying {events:,} events into the next generation (serving: {before})")
    output = work / "rebuild.log"
    started = time.monotonic()
    polls = 0
    wrong: list[dict[str, Any]] = []  # every poll that saw anything but the full view

    def poll(phase: str) -> None:
        nonlocal polls
        polls += 1
        answer = registry.stats()
        if answer != expected:
            wrong.append(
                {"at_s": round(time.monotonic() - started, 1), "phase": phase, "answer": answer}
            )

    with output.open("wb") as out:
        process = subprocess.Popen(
            ["scripts/uv.sh", "run", "--frozen", "python", "-m", "credreg_registry", "rebuild"],
            cwd=REPO,
            env={**os.environ, **registry.env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        last_log = started
        while process.poll() is None:
            # Readers must keep seeing the whole old view while the new one is written.
            poll("rebuilding")
            time.sleep(1)
            if time.monotonic() - last_log >= 30:
                last_log = time.monotonic()
                lines = output.read_text(errors="replace").splitlines()
                log(lines[-1] if lines else "rebuild: starting")
    finished = time.monotonic()
    text = output.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"rebuild failed (exit {process.returncode}):\n{text[-2000:]}")
    target = (before or 0) + 1
    while serving_generation(registry) != target:
        poll("until the readers moved")
        if time.monotonic() - finished > STALL_SECONDS:
            raise RuntimeError(f"the registry did not move its readers to generation {target}")
        time.sleep(0.5)
    moved = time.monotonic()
    poll("after the readers moved")
    seconds = finished - started
    log(
        f"rebuild: {events:,} events in {seconds:.1f}s ({events / seconds:,.0f}/s); readers on "
        f"generation {target} {moved - finished:.1f}s later; "
        f"stats wrong in {len(wrong)}/{polls} polls"
    )
    return {
        "events": events,
        "seconds": round(seconds, 1),
        "per_second": round(events / seconds),
        "generation": target,
        "seconds_exit_to_readers_moved": round(moved - finished, 1),
        "stats_polls": polls,
        "stats_polls_not_the_full_view": len(wrong),
        "stats_polls_wrong": wrong[:20],
        "stats_expected": expected,
        "rebuild_output_tail": text.splitlines()[-1:],
    }


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def drop_dataset(bootstrap: str, uri: str, info: dict[str, Any]) -> None:
    """Drop the benchmark database, delete its topics and the registry's consumer group."""
    log(f"dropping database {info['database']}, topic {info['topic']}, its group")
    with MongoClient(uri) as client:
        client.drop_database(info["database"])
        for name in client.list_database_names():  # the generations a rebuild made
            if name.startswith(f"{info['database']}_g"):
                client.drop_database(name)
    pathways = info["namespace"] + PATHWAYS_TOPIC
    topics = [info["topic"], dlq_topic(info["topic"]), pathways, dlq_topic(pathways)]
    asyncio.run(delete_topics_and_group(bootstrap, topics, info["consumer_group"]))


# --- output ----------------------------------------------------------------------------------


def print_table(result: dict[str, Any]) -> None:
    """Every figure next to its baseline."""
    m = result["machine"]
    print(
        f"\nregistry benchmark: {result['dataset']['credentials']:,} credentials, "
        f"{m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}"
    )
    base = {p["name"]: p for p in result.get("baseline", {}).get("phases", [])}
    raw_produce = base.get("kafka produce (acks=all)", {}).get("per_second")
    raw_consume = base.get("kafka consume + commit", {}).get("per_second")
    raw_mongo = base.get("mongo bulk upsert", {}).get("per_second")

    def ratio(value: float | None, against: float | None) -> str:
        return f"{value / against:.3f}" if value and against else "-"

    print(f"\n{'figure':44} {'value':>14} {'baseline':>14} {'ratio':>7}  baseline is")
    rows: list[tuple[str, Any, Any, str]] = []
    if "produce" in result:
        p = result["produce"]
        rows.append(("produce dataset, records/s", p["per_second"], raw_produce, "raw aiokafka"))
        rows.append(
            (
                "  MB/s",
                p["mb_per_second"],
                base.get("kafka produce (acks=all)", {}).get("mb_per_second"),
                "raw aiokafka",
            )
        )
    pr = result["projection"]
    label = "projection of backlog, events/s" if pr["backlog"] else "catch-up (skip-load), events/s"
    rows.append((label, pr["per_second"], raw_mongo, "raw Mongo bulk upsert"))
    rows.append(("  vs raw Kafka consume", pr["per_second"], raw_consume, "raw aiokafka consume"))
    rows.append(("  seconds from ready to all visible", pr["seconds_from_ready"], None, ""))
    rows.append(("  registry start-up, seconds", pr["startup_seconds"], None, ""))
    if "convocation" in result:
        c = result["convocation"]
        rows.append(
            (
                f"convocation {c['records']:,}: last ack → visible, s",
                c["seconds_last_ack_to_visible"],
                None,
                "",
            )
        )
        rows.append(
            (
                "  end to end, credentials/s",
                c["per_second_end_to_end"],
                raw_mongo,
                "raw Mongo bulk upsert",
            )
        )
    if "search_setup" in result:
        ss = result["search_setup"]
        bulk = ss["bulk_consents"]
        rows.append(
            (
                f"consents in bulk {bulk['credentials']:,}: written, s",
                bulk["seconds"],
                None,
                "",
            )
        )
        links = ss["share_links"]
        rows.append(
            (f"share links {links['made']:,}, made per second", links["per_second"], None, "")
        )
        for p in ss["pathways"]["defined"]:
            rows.append(
                (
                    f"{p['pathway']}: PUT → back-fill done, s",
                    p["put_to_backfill_done_seconds"],
                    None,
                    "",
                )
            )
    if "rebuild" in result:
        r = result["rebuild"]
        rows.append(
            (
                "rebuild of the whole log, events/s",
                r["per_second"],
                raw_mongo,
                "raw Mongo bulk upsert",
            )
        )
        rows.append(("  exit → readers moved, s", r["seconds_exit_to_readers_moved"], None, ""))
        rows.append(
            (
                "  stats polls not the full view",
                r["stats_polls_not_the_full_view"],
                r["stats_polls"],
                "polls",
            )
        )
    mem = result["memory"]
    rows.append(
        ("registry peak RSS, MiB (sampled)", mem["registry_peak_rss_mib_sampled"], None, "")
    )
    rows.append(("registry VmHWM, MiB", mem["registry_vmhwm_mib"], None, ""))
    rows.append(
        (
            "Mongo server peak RSS, MiB (sampled)",
            mem["mongo_server_peak_rss_mib_sampled"],
            mem["mongo_server_rss_mib_before"],
            "its RSS before",
        )
    )
    rows.append(
        ("Mongo server VmHWM (since its start), MiB", mem["mongo_server_vmhwm_mib"], None, "")
    )
    disk = result["disk"]
    rows.append(("benchmark database on disk, MiB", disk["benchmark_database_mib"], None, ""))
    rows.append(("Mongo data dir total, MiB", disk["mongo_data_dir_mib"], None, ""))
    rows.append(
        (
            "Kafka topic on disk, MiB",
            disk["kafka_topic_mib"],
            round(
                result.get("produce", {}).get("megabytes", 0)
                + result.get("convocation", {}).get("megabytes", 0),
                1,
            )
            or None,
            "record values, MB",
        )
    )
    for name, value, against, what in rows:
        shown = f"{value:,}" if isinstance(value, int | float) else "-"
        shown_base = f"{against:,}" if isinstance(against, int | float) else "-"
        shown_ratio = ratio(value, against) if what else ""
        print(f"{name:44} {shown:>14} {shown_base:>14} {shown_ratio:>7}  {what}")
    print(
        f"\n{'reads (' + result['reads'][0]['tool'] + ')':30} {'target/s':>8} {'got/s':>8} "
        f"{'ok':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'urls':>6}"
    )
    for r in result["reads"]:
        print(
            f"{r['route']:30} {r['rate']:>8} {r['throughput']:>8} {r['success']:>7.2%} "
            f"{r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} {r['distinct_urls']:>6}"
        )
    for note in result["notes"]:
        print(f"note: {note}")
    for warning in result.get("warnings", []):
        print(f"WARNING: {warning}")


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=1_000_000)
    parser.add_argument("--read-seconds", type=int, default=30)
    parser.add_argument("--rate", type=int, default=200, help="requests/s per route")
    parser.add_argument("--convocation", type=int, default=20_000)
    parser.add_argument("--baseline-count", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=10_000, help="distinct ids per route")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--searchable-share",
        type=float,
        default=0.05,
        help="share of the dataset's credentials made searchable (most in bulk; default 0.05)",
    )
    parser.add_argument(
        "--consent-rate", type=int, default=20, help="consent PUTs/s (0: none; default 20)"
    )
    parser.add_argument("--share-links", type=int, default=1000, help="share links made")
    parser.add_argument("--pathways", type=int, default=4, help="pathways defined (≤ 20)")
    parser.add_argument("--keep", action="store_true", help="keep the db/topic, write state")
    parser.add_argument(
        "--rebuild",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time `credreg_registry rebuild` of the whole log at the end (default: on)",
    )
    parser.add_argument(
        "--skip-load", action="store_true", help=f"reuse the dataset named in {STATE_FILE.name}"
    )
    parser.add_argument("--drop-kept", action="store_true", help="drop the kept dataset and exit")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.drop_kept:
        info = json.loads(STATE_FILE.read_text())
        drop_dataset(
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/"),
            info,
        )
        STATE_FILE.unlink()
        return 0
    if args.skip_load and not STATE_FILE.exists():
        parser.error(f"--skip-load needs {STATE_FILE} from an earlier run with --keep")
    try:
        result = run(args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except RuntimeError as error:
        log(f"failed: {error}")
        return 1
    print_table(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"registry-{result['measured_at'][:19].replace(':', '')}.json"
    for key in ("samples",):
        result["dataset"].pop(key, None)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
