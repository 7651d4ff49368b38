"""Benchmark: a convocation issued end to end (issue #10), through the batch API and Kafka ingress.

Run: `make bench-issuance` (or scripts/bench-issuance.sh [flags]). On the local infra, with a
fresh topic namespace and databases: the raw-stack baseline (bench/baseline.py's `kafka_round`
and `mongo_round`, records of the registry dataset's size), then the registry and, per phase,
freshly started issuer process(es). A phase is one suite × path × signing processes × replicas:
a new institution (its own cryptosuite), then `--credentials` issuances of distinct holders,

- batch: POSTed as batches of 10,000 items back to back (round robin over the replicas), polled
  until every item is accepted; meanwhile vegeta POSTs single credentials to /v1/credentials at
  `--rate` per second (latency of the HTTP path while the batch signs);
- kafka: produced to the institution's request topic with one producer (acks=all), results read
  from the results topic until every request id is answered accepted;

timed from the first POST / produce to (a) all accepted at the issuer, (b) all visible in the
registry (`/v1/stats`, polled every `--poll` s); a few holders' portfolios and one credential's
proof are checked. The issuer's RSS (its process and children: the signing pool) is sampled
every 0.5 s, and the CPU seconds of the issuer, registry, Mongo-wire server, Kafka and this
script are taken at the start, at (a) and at (b). Prints a table and writes
bench/results/issuance-<timestamp>.json. Numbers only: it does not pass or fail; an item or a
request rejected stops the run with the issuer's reasons.

Environment: KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI (set by the shell script from the local infra),
CREDREG_INFRA_DIR (pid files of the local Kafka and Mongo-wire server; default .local/infra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from pymongo import AsyncMongoClient

from credreg_issuer.batches import MAX_ITEMS
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.events.topics import (
    CREDENTIALS_TOPIC,
    ISSUANCE_REQUESTED_V1,
    ISSUANCE_RESULTS_TOPIC,
    issuance_requests_topic,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "deploy" / "local"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "registry"))
import baseline  # noqa: E402
from bench_registry import (  # noqa: E402
    children,
    consumer_groups,
    delete_topics_and_group,
    proc_status_kb,
)
from dataset import Dataset  # noqa: E402
from loadgen import Tool, ensure_tool  # noqa: E402
from service_processes import ServiceProcess, free_port  # noqa: E402

RESULTS = REPO / "bench" / "results"
WORK = REPO / ".local" / "bench-issuance"
ADMIN_KEY = "bench-admin-key"
SUITES = {"rdfc": "eddsa-rdfc-2022", "jcs": "eddsa-jcs-2022"}
TARGETS_PER_SECOND = {"rdfc": 1_000, "jcs": 2_000}
TARGET_RSS_MB = 200
STALL_SECONDS = 180.0
SPREAD_SECONDS = 90
SPOT_CHECKS = 3  # per batch / per Kafka phase: first, middle, last


def log(message: str) -> None:
    """One progress line."""
    print(f"[bench-issuance] {message}", flush=True)


class BenchError(RuntimeError):
    """The system under test misbehaved (an item rejected, a stall): the run stops."""


# --- processes: RSS and CPU ------------------------------------------------------------------


def tree(pid: int | None) -> list[int]:
    """`pid` and every descendant (none if it is gone)."""
    if pid is None or not Path(f"/proc/{pid}").exists():
        return []
    return [pid, *children(pid)]


def pss_kb(pid: int) -> int:
    """Proportional set size of a process (shared pages split among their users), kB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """CPU time every core spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


MACHINE, OTHERS = "machine", "others"


def cpu_snapshot(roots: dict[str, list[int | None]]) -> dict[str, dict[int, float]]:
    """CPU seconds of every process of each component's trees (a process in the trees of two
    components counts for the later one: the services are children of this script), of every
    other process (OTHERS), and of the whole machine (MACHINE)."""
    owner: dict[int, str] = {}
    for name, pids in roots.items():
        for root in pids:
            owner.update((p, name) for p in tree(root))
    snapshot: dict[str, dict[int, float]] = {name: {} for name in [*roots, OTHERS]}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            snapshot[owner.get(pid, OTHERS)][pid] = cpu_seconds(pid)
    snapshot[MACHINE] = {0: machine_cpu_seconds()}
    return snapshot


def cpu_delta(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    """CPU seconds each component used between two snapshots (processes born since from 0);
    OTHERS: the machine's busy time not used by the components (processes of other users of
    the machine, and short-lived ones)."""
    used = {
        name: sum(t - before.get(name, {}).get(p, 0.0) for p, t in pids.items())
        for name, pids in after.items()
        if name not in (MACHINE, OTHERS)
    }
    machine = after[MACHINE][0] - before[MACHINE][0]
    return {
        **{name: round(t, 1) for name, t in used.items()},
        OTHERS: round(max(0.0, machine - sum(used.values())), 1),
        MACHINE: round(machine, 1),
    }


def busiest_others(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], top: int = 3
) -> list[dict[str, Any]]:
    """The processes outside the run that used the most CPU between two snapshots."""
    deltas = sorted(
        ((t - before[OTHERS].get(p, 0.0), p) for p, t in after[OTHERS].items()), reverse=True
    )
    found = []
    for seconds, pid in deltas[:top]:
        if seconds < 0.5:
            break
        found.append({"pid": pid, "cpu_seconds": round(seconds, 1), "command": command_line(pid)})
    return found


def command_line(pid: int, limit: int = 160) -> str:
    """A process's command line, shortened."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return argv.replace(b"\0", b" ").decode(errors="replace").strip()[:limit]


def clients_of(ports: set[int], exclude: set[int]) -> dict[int, str]:
    """Processes (not in `exclude`) with a TCP connection to one of these local ports: who
    else uses the run's Kafka broker or Mongo-wire server."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[3] == "01" and remote_port in ports:  # established, to the port
                inodes.add(f"socket:[{fields[9]}]")
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            found[int(entry.name)] = command_line(int(entry.name))
    return found


class RssSampler:
    """Samples the issuer processes twice a second: peak RSS of the main processes, of their
    whole trees (the signing pool, counted in full: shared pages more than once) and PSS."""

    def __init__(self) -> None:
        self.roots: list[int] = []
        self.peak: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start the sampling thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop it."""
        self._stop.set()
        self._thread.join(2)

    def watch(self, roots: list[int]) -> None:
        """Sample these processes from now on, with fresh peaks."""
        with self._lock:
            self.roots = roots
            self.peak = {}
        self.sample()

    def take(self) -> dict[str, float]:
        """The peaks since `watch`, in MiB."""
        self.sample()
        with self._lock:
            return {k: round(v / 1024, 1) for k, v in self.peak.items()}

    def sample(self) -> None:
        """One sample now."""
        with self._lock:
            roots = list(self.roots)
        main = trees = pss = processes = 0
        for root in roots:
            pids = tree(root)
            main += proc_status_kb(root, "VmRSS") or 0
            trees += sum(proc_status_kb(p, "VmRSS") or 0 for p in pids)
            pss += sum(pss_kb(p) for p in pids)
            processes += len(pids)
        with self._lock:
            for name, value in (("main_rss", main), ("tree_rss", trees), ("tree_pss", pss)):
                self.peak[name] = max(self.peak.get(name, 0), value)
            self.peak["processes"] = max(self.peak.get("processes", 0), processes * 1024)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()


# --- the run's settings and phases -----------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One measured issuance: a suite, a path, signing processes per issuer, issuer replicas."""

    number: int
    suite: str
    path: str
    signing_processes: int
    replicas: int

    @property
    def name(self) -> str:
        """As in the table."""
        extra = f" x{self.replicas} replicas" if self.replicas > 1 else ""
        return f"{self.path} {self.suite} sp={self.signing_processes}{extra}"

    @property
    def slug(self) -> str:
        """The phase's institution."""
        return f"bench-{self.number}-{self.path}-{self.suite}"


@dataclass
class Run:
    """Where this run's services, data and topics are."""

    args: argparse.Namespace
    bootstrap: str
    uri: str
    tag: str
    kek: str
    issuer_ports: list[int]
    registry: ServiceProcess
    infra_pids: dict[str, int | None]
    sampler: RssSampler
    tool: Tool | None
    work: Path
    issuers: list[ServiceProcess] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        """Topic namespace (with its dot)."""
        return f"{self.tag}."

    @property
    def issuer_db(self) -> str:
        """The issuer replicas' shared database."""
        return f"{self.tag}_issuer"

    @property
    def registry_db(self) -> str:
        """The registry's database."""
        return f"{self.tag}_registry"

    @property
    def did_host(self) -> str:
        """did:web host of the institutions (replica 0's port)."""
        return f"localhost:{self.issuer_ports[0]}"

    def did(self, slug: str) -> str:
        """An institution's did:web."""
        return f"did:web:{self.did_host.replace(':', '%3A')}:institutions:{slug}"

    def base_env(self) -> dict[str, str]:
        """Settings both services share."""
        return {
            "CREDREG_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CREDREG_MONGODB_URI": self.uri,
            "CREDREG_TOPIC_NAMESPACE": self.namespace,
            "CREDREG_LOG_LEVEL": self.args.log_level,
        }

    def start_issuers(self, phase: Phase) -> list[ServiceProcess]:
        """`phase.replicas` issuers on one database and consumer group, ready."""
        env = {
            **self.base_env(),
            "CREDREG_MONGODB_DATABASE": self.issuer_db,
            "CREDREG_CONSUMER_GROUP": f"{self.tag}-issuer",
            "CREDREG_ADMIN_API_KEY": ADMIN_KEY,
            "CREDREG_KEY_ENCRYPTION_KEY": self.kek,
            "CREDREG_DID_WEB_HOST": self.did_host,
            "CREDREG_STATUS_LIST_BASE_URL": f"http://{self.did_host}",
            "CREDREG_SIGNING_PROCESSES": str(phase.signing_processes),
        }
        self.issuers = [
            ServiceProcess(
                "issuer",
                self.issuer_ports[r],
                env,
                self.work / f"issuer-{phase.number}-{r}.log",
            )
            for r in range(phase.replicas)
        ]
        for issuer in self.issuers:
            issuer.start()
        for issuer in self.issuers:
            issuer.wait_ready()
        return self.issuers

    def stop_issuers(self) -> None:
        """SIGTERM the issuers (SIGKILL after 20 s)."""
        for issuer in self.issuers:
            issuer.stop()
        self.issuers = []

    def foreign_clients(self) -> dict[int, str]:
        """Processes outside this run connected to its Kafka broker or Mongo-wire server."""
        ports = {int(self.bootstrap.rsplit(":", 1)[1])}
        ports.add(int(self.uri.split("@")[-1].split("/")[2].rsplit(":", 1)[1]))
        ours = {p for pids in self.cpu_roots().values() for root in pids for p in tree(root)}
        return clients_of(ports, ours)

    def cpu_roots(self) -> dict[str, list[int | None]]:
        """The processes whose CPU time a phase reports."""
        return {  # this script first: the services it started are its children
            "bench_and_vegeta": [os.getpid()],
            "issuer": [i.process.pid for i in self.issuers if i.process],
            "registry": [self.registry.process.pid if self.registry.process else None],
            "mongo_server": [self.infra_pids.get("mongo")],
            "kafka": [self.infra_pids.get("kafka")],
        }


# --- requests --------------------------------------------------------------------------------


def holder(run: Run, phase: Phase, n: int) -> str:
    """A distinct holder per credential of the run."""
    return f"student-{run.tag}-{phase.number}-{n}@uni.example"


def command(holder_id: str) -> dict[str, Any]:
    """The issuance command of one convocation credential."""
    return {
        "holder_id": holder_id,
        "achievement": {
            "name": "Data Stewardship Micro-credential",
            "competencies": [
                {"name": "Data governance", "code": "DS-GOV-1"},
                {"name": "Privacy by design", "code": "DS-PRIV-2"},
            ],
            "hours": 12,
            "delivery_mode": "online",
        },
    }


def item_key(phase: Phase, n: int) -> str:
    """The idempotency key (batch item) / request id (Kafka) of credential n."""
    return f"convocation-{phase.number}-{n}"


@dataclass
class Institution:
    """A phase's institution and its registrar key."""

    did: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        """Its bearer header."""
        return {"Authorization": f"Bearer {self.key}"}


async def create_institution(
    client: httpx.AsyncClient, url: str, slug: str, suite: str
) -> Institution:
    """POST /v1/institutions + an `issue` API key."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    made = await client.post(
        f"{url}/v1/institutions",
        json={"slug": slug, "name": f"Bench {slug}", "cryptosuite": SUITES[suite]},
        headers=admin,
    )
    if made.status_code != 201:
        raise BenchError(f"creating {slug}: HTTP {made.status_code} {made.text}")
    did = made.json()["id"]
    key = await client.post(
        f"{url}/v1/institutions/{quote(did, safe=':')}/api-keys",
        # `read`: the spot checks read its learners' portfolios in the private registry (#12).
        json={"scopes": ["issue", "read"], "label": "bench"},
        headers=admin,
    )
    if key.status_code != 201:
        raise BenchError(f"API key of {did}: HTTP {key.status_code} {key.text}")
    return Institution(did, key.json()["key"])


async def registry_count(client: httpx.AsyncClient, run: Run) -> int:
    """Credentials the registry shows."""
    answer = await client.get(f"{run.registry.url}/v1/stats")
    answer.raise_for_status()
    return int(answer.json()["credentials"])


async def wait_count(client: httpx.AsyncClient, run: Run, at_least: int, label: str) -> float:
    """Poll the registry until it shows `at_least` credentials; the perf_counter then."""
    last, changed = -1, time.perf_counter()
    while True:
        seen = await registry_count(client, run)
        now = time.perf_counter()
        if seen >= at_least:
            return now
        if seen != last:
            last, changed = seen, now
        elif now - changed > STALL_SECONDS:
            raise BenchError(
                f"{label}: the registry stalled at {seen:,}/{at_least:,} credentials for "
                f"{STALL_SECONDS:.0f}s; its log:\n{run.registry.tail()}"
            )
        await asyncio.sleep(run.args.poll)


# --- vegeta: single POSTs while a batch runs -------------------------------------------------


class SinglePosts:
    """vegeta POSTing one credential at a time to /v1/credentials at a constant rate, until
    stopped (SIGINT: it stops sending and writes the results of the requests it made)."""

    def __init__(self, run: Run, phase: Phase, url: str, institution: Institution) -> None:
        self.run, self.url, self.institution = run, url, institution
        self.dir = run.work / f"vegeta-{phase.number}"
        self.results = self.dir / "results.bin"
        self.process: asyncio.subprocess.Process | None = None
        self.holder = f"single-{run.tag}-{phase.number}@uni.example"

    async def start(self) -> None:
        """Write the target (no Idempotency-Key: each POST issues a credential) and attack."""
        assert self.run.tool is not None and self.run.tool.name == "vegeta"
        self.dir.mkdir(parents=True, exist_ok=True)
        body = self.dir / "body.json"
        body.write_text(json.dumps(command(self.holder)))
        targets = self.dir / "targets.txt"
        targets.write_text(
            f"POST {self.url}/v1/credentials\n"
            f"Authorization: Bearer {self.institution.key}\n"
            "Content-Type: application/json\n"
            f"@{body}\n\n"
        )
        self.process = await asyncio.create_subprocess_exec(
            str(self.run.tool.path),
            "attack",
            f"-targets={targets}",
            f"-rate={self.run.args.rate}/s",
            "-duration=0",
            "-timeout=60s",
            "-workers=10",
            f"-output={self.results}",
            stdin=asyncio.subprocess.DEVNULL,
        )

    async def stop(self) -> dict[str, Any]:
        """Stop the attack; its report (latencies in ms)."""
        assert self.process is not None and self.run.tool is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        await asyncio.wait_for(self.process.wait(), 90)
        report_process = await asyncio.create_subprocess_exec(
            str(self.run.tool.path),
            "report",
            "-type=json",
            str(self.results),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await report_process.communicate()
        report = json.loads(out)
        latencies = report["latencies"]
        codes = {str(k): int(v) for k, v in (report.get("status_codes") or {}).items()}
        return {
            "tool": f"vegeta {self.run.tool.version}",
            "rate": self.run.args.rate,
            "requests": int(report["requests"]),
            "created": codes.get("201", 0),
            "status_codes": codes,
            "success": round(float(report["success"]), 4),
            "p50_ms": round(latencies["50th"] / 1e6, 1),
            "p90_ms": round(latencies["90th"] / 1e6, 1),
            "p99_ms": round(latencies["99th"] / 1e6, 1),
            "max_ms": round(latencies["max"] / 1e6, 1),
            "errors": list(report.get("errors") or [])[:5],
        }

    async def kill(self) -> None:
        """Stop it without a report (a failed phase)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            await asyncio.wait_for(self.process.wait(), 90)


# --- the two paths ---------------------------------------------------------------------------


@dataclass
class Timeline:
    """When a phase started, when all was accepted and visible, and its progress every second."""

    started: float
    accepted_at: float | None = None
    visible_at: float | None = None
    seconds: list[float] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    visible: list[int] = field(default_factory=list)

    def note(self, now: float, accepted: int, visible: int) -> None:
        """Keep a progress point about once a second."""
        t = now - self.started
        if not self.seconds or t - self.seconds[-1] >= 1.0:
            self.seconds.append(round(t, 1))
            self.accepted.append(accepted)
            self.visible.append(visible)


async def batch_path(
    client: httpx.AsyncClient, run: Run, phase: Phase, institution: Institution, base: int
) -> dict[str, Any]:
    """POST the batches back to back, poll them until done, then the registry."""
    n = run.args.credentials
    sizes = [min(MAX_ITEMS, n - start) for start in range(0, n, MAX_ITEMS)]
    bodies, first = [], 0
    for size in sizes:
        items = [
            {"idempotency_key": item_key(phase, k), "credential": command(holder(run, phase, k))}
            for k in range(first, first + size)
        ]
        bodies.append(json.dumps({"items": items}).encode())
        first += size
    urls = [run.issuers[b % len(run.issuers)].url for b in range(len(bodies))]
    headers = {**institution.auth, "Content-Type": "application/json"}
    singles = (
        SinglePosts(run, phase, run.issuers[0].url, institution)
        if run.tool is not None and run.args.rate > 0
        else None
    )
    if singles is not None:
        await singles.start()
        await asyncio.sleep(0.2)  # vegeta up
    cpu0 = cpu_snapshot(run.cpu_roots())
    clients = run.foreign_clients()
    timeline = Timeline(time.perf_counter())
    posted: list[tuple[str, str]] = []
    post_seconds = []
    try:
        for url, body in zip(urls, bodies, strict=True):
            sent = time.perf_counter()
            answer = await client.post(
                f"{url}/v1/credential-batches", content=body, headers=headers
            )
            post_seconds.append(round(time.perf_counter() - sent, 2))
            if answer.status_code != 202:
                raise BenchError(f"POST /v1/credential-batches: {answer.status_code} {answer.text}")
            posted.append((url, answer.json()["id"]))
        log(f"  {len(posted)} batches posted in {sum(post_seconds):.1f}s ({post_seconds})")
        last_accepted, changed, last_log = -1, time.perf_counter(), time.perf_counter()
        while True:
            views = []
            for url, batch_id in posted:
                got = await client.get(
                    f"{url}/v1/credential-batches/{batch_id}",
                    params={"limit": 1},
                    headers=institution.auth,
                )
                got.raise_for_status()
                views.append(got.json())
            now = time.perf_counter()
            accepted = sum(v["counts"]["accepted"] for v in views)
            rejected = sum(v["counts"]["rejected"] for v in views)
            visible = await registry_count(client, run) - base
            timeline.note(now, accepted, visible)
            if rejected:
                raise BenchError(
                    f"{rejected} batch items rejected: "
                    f"{await rejected_items(client, posted, institution)}"
                )
            if all(v["status"] == "done" for v in views):
                if accepted != n:
                    raise BenchError(f"batches done with {accepted:,}/{n:,} accepted: {views}")
                timeline.accepted_at = now
                break
            if accepted != last_accepted:
                last_accepted, changed = accepted, now
            elif now - changed > STALL_SECONDS:
                raise BenchError(
                    f"batches stalled at {accepted:,}/{n:,} accepted; issuer log:\n"
                    f"{run.issuers[0].tail()}"
                )
            if now - last_log >= 10:
                last_log = now
                log(f"  {accepted:,}/{n:,} accepted, {visible:,} visible in the registry")
            await asyncio.sleep(run.args.poll)
        cpu_a = cpu_snapshot(run.cpu_roots())
        clients |= run.foreign_clients()
        rss = run.sampler.take()
        single = await singles.stop() if singles is not None else None
        singles = None
    finally:
        if singles is not None:
            await singles.kill()
    created = single["created"] if single else 0
    while True:  # the registry, to the last credential (the single POSTs' included)
        visible = await registry_count(client, run) - base
        now = time.perf_counter()
        timeline.note(now, n, visible)
        if visible >= n + created:
            timeline.visible_at = now
            break
        if now - (timeline.seconds[-1] + timeline.started) > STALL_SECONDS:
            raise BenchError(f"the registry stalled at {visible:,}/{n + created:,}")
        await asyncio.sleep(run.args.poll)
    cpu_b = cpu_snapshot(run.cpu_roots())
    checks = []
    for url, batch_id in posted:
        total = (await batch_view(client, url, batch_id, institution, 0, 1))["counts"]["total"]
        for offset in sorted({0, total // 2, total - 1}):
            item = (await batch_view(client, url, batch_id, institution, offset, 1))["results"][0]
            number = int(item["idempotency_key"].rsplit("-", 1)[1])
            checks.append((holder(run, phase, number), item["credential_id"]))
    return {
        "batches": len(posted),
        "batch_post_seconds": post_seconds,
        "single_posts": single,
        "extra_visible": created,
        **finish(run, timeline, cpu0, cpu_a, cpu_b, rss, clients),
        "_checks": checks,
    }


async def batch_view(
    client: httpx.AsyncClient,
    url: str,
    batch_id: str,
    institution: Institution,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """GET a batch's view (a page of its item results)."""
    got = await client.get(
        f"{url}/v1/credential-batches/{batch_id}",
        params={"offset": offset, "limit": limit},
        headers=institution.auth,
    )
    got.raise_for_status()
    view: dict[str, Any] = got.json()
    return view


async def rejected_items(
    client: httpx.AsyncClient, posted: list[tuple[str, str]], institution: Institution
) -> list[dict[str, Any]]:
    """The first rejected items of the batches, with their errors."""
    found: list[dict[str, Any]] = []
    for url, batch_id in posted:
        offset: int | None = 0
        while offset is not None and len(found) < 5:
            view = await batch_view(client, url, batch_id, institution, offset, 1000)
            found += [r for r in view["results"] if r["status"] == "rejected"][: 5 - len(found)]
            offset = view.get("next_offset")
    return found


def request_record(
    run: Run, institution: Institution, request_id: str, holder_id: str
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of an issuance request: a CloudEvent in Kafka binary mode, as in
    docs/samples/registrar_producer.py."""
    value = {
        "request_id": request_id,
        "institution_id": institution.did,
        "credential": command(holder_id),
    }
    key = request_id.encode()
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run.tag}/{request_id}")).encode()),
        ("ce_source", b"urn:registrar:bench"),
        ("ce_type", ISSUANCE_REQUESTED_V1.encode()),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("ce_subject", key),
        ("content-type", b"application/json"),
    ]
    return key, json.dumps(value).encode(), headers


class Results:
    """Reads the issuance results topic from its start; keeps the answers to one phase."""

    def __init__(self, run: Run, prefix: str) -> None:
        self.consumer = AIOKafkaConsumer(
            run.namespace + ISSUANCE_RESULTS_TOPIC,
            bootstrap_servers=run.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
        )
        self.prefix = prefix
        self.answers: dict[str, dict[str, Any]] = {}
        self.accepted = 0
        self.rejected: list[dict[str, Any]] = []
        self.last_at = 0.0
        self.answered = asyncio.Event()
        """Set once a request of the phase is answered."""
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start reading."""
        await self.consumer.start()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    answer = json.loads(record.value or b"{}")
                    request_id = str(answer.get("request_id", ""))
                    if not request_id.startswith(self.prefix) or request_id in self.answers:
                        continue
                    self.answers[request_id] = answer
                    self.last_at = now
                    self.answered.set()
                    if answer.get("status") == "accepted":
                        self.accepted += 1
                    else:
                        self.rejected.append(answer)

    async def stop(self) -> None:
        """Stop reading."""
        if self.task is not None:
            self.task.cancel()
            # The reader's own cancellation is expected; a cancellation of stop() still ends it.
            await asyncio.gather(self.task, return_exceptions=True)
        await self.consumer.stop()


async def wait_spread(run: Run, topic: str, replicas: int) -> None:
    """Until the issuers' ingress group is stable with every replica holding partitions of
    `topic` (each finds a new topic within 10 s, then the group rebalances)."""
    group = f"{run.tag}-issuer-ingress"
    admin = AIOKafkaAdminClient(bootstrap_servers=run.bootstrap)
    await admin.start()
    try:
        started = time.perf_counter()
        deadline = started + SPREAD_SECONDS
        while time.perf_counter() < deadline:
            description = (await admin.describe_consumer_groups([group]))[0].groups[0]
            state, members = description[2], description[5]
            holding = [
                any(
                    t == topic and parts
                    for t, parts in ConsumerProtocolMemberAssignment.decode(m[4]).assignment
                )
                for m in members
                if m[4]
            ]
            if state == "Stable" and len(holding) == replicas and all(holding):
                waited = time.perf_counter() - started
                log(f"  the {replicas} replicas share {topic} after {waited:.1f}s")
                return
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    raise BenchError(f"{group}: not every replica got partitions of {topic} in {SPREAD_SECONDS}s")


async def kafka_path(
    client: httpx.AsyncClient, run: Run, phase: Phase, institution: Institution, base: int
) -> dict[str, Any]:
    """Produce every request with one producer, read the results, then poll the registry."""
    n = run.args.credentials
    topic = run.namespace + issuance_requests_topic(phase.slug)
    prefix = f"convocation-{phase.number}-"
    results = Results(run, prefix)
    await results.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=run.bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        # Warm-up: one request answered = the ingress consumer has the new topic's partitions.
        warm_id = f"warm-{phase.number}"
        warm = Results(run, warm_id)
        await warm.start()
        key, value, headers = request_record(
            run, institution, warm_id, f"warm-{run.tag}-{phase.number}-kafka@uni.example"
        )
        await producer.send_and_wait(topic, value, key=key, headers=headers)
        try:
            await asyncio.wait_for(warm.answered.wait(), 120)
        except TimeoutError:
            raise BenchError(f"no answer to a warm-up request on {topic} within 120 s") from None
        finally:
            await warm.stop()
        if len(run.issuers) > 1:
            await wait_spread(run, topic, len(run.issuers))
        await wait_count(client, run, base + 1, "warm-up")
        base += 1
        records = [
            request_record(run, institution, item_key(phase, k), holder(run, phase, k))
            for k in range(n)
        ]
        cpu0 = cpu_snapshot(run.cpu_roots())
        clients = run.foreign_clients()
        timeline = Timeline(time.perf_counter())
        futures = [
            await producer.send(topic, value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
        produced_at = time.perf_counter()
        log(f"  {n:,} requests produced in {produced_at - timeline.started:.1f}s")
    finally:
        await producer.stop()
    try:
        last_log = time.perf_counter()
        while True:
            visible = await registry_count(client, run) - base
            now = time.perf_counter()
            timeline.note(now, results.accepted, visible)
            if results.rejected:
                raise BenchError(
                    f"{len(results.rejected)} requests rejected: {results.rejected[:5]}"
                )
            if results.accepted >= n:
                timeline.accepted_at = results.last_at
                break
            if now - max(results.last_at, timeline.started) > STALL_SECONDS:
                raise BenchError(
                    f"results stalled at {results.accepted:,}/{n:,}; issuer log:\n"
                    f"{run.issuers[0].tail()}"
                )
            if now - last_log >= 10:
                last_log = now
                log(f"  {results.accepted:,}/{n:,} accepted, {visible:,} visible in the registry")
            await asyncio.sleep(run.args.poll)
        cpu_a = cpu_snapshot(run.cpu_roots())
        clients |= run.foreign_clients()
        rss = run.sampler.take()
        timeline.visible_at = await wait_count(client, run, base + n, phase.name)
        timeline.note(timeline.visible_at, n, n)
        cpu_b = cpu_snapshot(run.cpu_roots())
        checks = []
        for number in sorted({0, n // 2, n - 1}):
            answer = results.answers[item_key(phase, number)]
            checks.append((holder(run, phase, number), answer["credential_id"]))
    finally:
        await results.stop()
    return {
        "produce_seconds": round(produced_at - timeline.started, 2),
        "produce_per_second": round(n / (produced_at - timeline.started)),
        **finish(run, timeline, cpu0, cpu_a, cpu_b, rss, clients),
        "_checks": checks,
    }


def finish(
    run: Run,
    timeline: Timeline,
    cpu0: dict[str, dict[int, float]],
    cpu_a: dict[str, dict[int, float]],
    cpu_b: dict[str, dict[int, float]],
    rss: dict[str, float],
    clients: dict[int, str],
) -> dict[str, Any]:
    """The phase's figures from its timeline."""
    n = run.args.credentials
    assert timeline.accepted_at is not None and timeline.visible_at is not None
    to_accepted = timeline.accepted_at - timeline.started
    to_visible = timeline.visible_at - timeline.started
    return {
        "seconds_to_accepted": round(to_accepted, 2),
        "seconds_to_visible": round(to_visible, 2),
        "accepted_per_second": round(n / to_accepted),
        "visible_per_second": round(n / to_visible),
        "issuer_rss_peak_mib": rss,
        "cpu_seconds_to_accepted": cpu_delta(cpu0, cpu_a),
        "cpu_seconds_to_visible": cpu_delta(cpu0, cpu_b),
        "cpu_cores_busy": round(cpu_delta(cpu0, cpu_b)[MACHINE] / to_visible, 2),
        "busiest_other_processes": busiest_others(cpu0, cpu_b),
        "other_clients_of_kafka_and_mongo": sorted(set(clients.values())),
        "progress": {
            "seconds": timeline.seconds,
            "accepted": timeline.accepted,
            "visible": timeline.visible,
        },
    }


async def spot_checks(
    client: httpx.AsyncClient,
    run: Run,
    phase: Phase,
    checks: list[tuple[str, str]],
    institution: Institution,
) -> dict[str, Any]:
    """Each checked holder's portfolio lists its credential, signed with the phase's suite; the
    registry verifies the first one (proof, did:web, status list) as any verifier would."""
    problems: list[str] = []
    for holder_id, credential_id in checks:
        # Read as the issuing institution: portfolios and credentials are private (#12).
        page = await client.get(
            f"{run.registry.url}/v1/holders/{quote(holder_id, safe='')}/credentials",
            headers=institution.auth,
        )
        ids = [c["id"] for c in page.json().get("credentials", [])] if page.is_success else []
        if credential_id not in ids:
            problems.append(f"portfolio of {holder_id}: HTTP {page.status_code}, {ids}")
            continue
        view = await client.get(
            f"{run.registry.url}/v1/credentials/{quote(credential_id, safe='')}",
            headers=institution.auth,
        )
        proof = view.json().get("credential", {}).get("proof") if view.is_success else None
        proofs = proof if isinstance(proof, list) else [proof]
        suites = [p.get("cryptosuite") for p in proofs if isinstance(p, dict)]
        if suites != [SUITES[phase.suite]]:
            problems.append(f"credential {credential_id}: HTTP {view.status_code}, suites {suites}")
    verified: dict[str, Any] = {}
    if checks:
        view = await client.get(
            f"{run.registry.url}/v1/credentials/{quote(checks[0][1], safe='')}",
            headers=institution.auth,
        )
        if view.is_success:
            answer = await client.post(
                f"{run.registry.url}/v1/verify", json=view.json()["credential"]
            )
            body = answer.json() if answer.is_success else {}
            verified = {
                "credential_id": checks[0][1],
                "verified": body.get("verified"),
                "checks": {c["name"]: c["outcome"] for c in body.get("checks", [])},
                "fetch_problems": body.get("fetch_problems"),
            }
            if body.get("verified") is not True:
                problems.append(f"POST /v1/verify: HTTP {answer.status_code} {answer.text[:600]}")
    return {"checked": len(checks), "problems": problems, "verify": verified}


async def measure_phase(run: Run, phase: Phase) -> dict[str, Any]:
    """Create the phase's institution, warm up, issue the convocation, check it."""
    async with httpx.AsyncClient(timeout=120) as client:
        institution = await create_institution(client, run.issuers[0].url, phase.slug, phase.suite)
        base0 = await registry_count(client, run)
        # Warm-up: the institution's key opened and the signing pool started on every replica.
        for r, issuer in enumerate(run.issuers):
            answer = await client.post(
                f"{issuer.url}/v1/credentials",
                json=command(f"warm-{run.tag}-{phase.number}-{r}@uni.example"),
                headers=institution.auth,
            )
            if answer.status_code != 201:
                raise BenchError(f"warm-up POST: HTTP {answer.status_code} {answer.text}")
        await wait_count(client, run, base0 + len(run.issuers), "warm-up")
        base = await registry_count(client, run)
        run.sampler.watch([i.process.pid for i in run.issuers if i.process])
        log(f"phase {phase.name}: {institution.did}, {run.args.credentials:,} credentials")
        if phase.path == "batch":
            figures = await batch_path(client, run, phase, institution, base)
        else:
            figures = await kafka_path(client, run, phase, institution, base)
        checks = figures.pop("_checks")
        figures["spot_checks"] = await spot_checks(client, run, phase, checks, institution)
    return {
        "phase": phase.name,
        "path": phase.path,
        "suite": phase.suite,
        "cryptosuite": SUITES[phase.suite],
        "signing_processes": phase.signing_processes,
        "replicas": phase.replicas,
        "credentials": run.args.credentials,
        "institution": institution.did,
        **figures,
    }


# --- baseline, record size, clean-up ---------------------------------------------------------


def record_bytes() -> int:
    """Mean size of a `credential.issued` record of the registry benchmark's dataset."""
    dataset = Dataset(200, seed=1)
    return round(
        sum(len(dataset.issued_record(dataset.credential(i)).value) for i in range(200)) / 200
    )


def raw_baseline(run: Run) -> dict[str, Any]:
    """bench/baseline.py's Kafka produce/consume and Mongo bulk upsert, same run and machine."""
    size = record_bytes()
    count = run.args.baseline_count or run.args.credentials
    baseline.RECORD_BYTES = size  # baseline.payload pads records to this size
    log(f"raw baseline: aiokafka produce/consume {count:,} records of {size} B")
    groups_before = asyncio.run(consumer_groups(run.bootstrap))
    kafka = asyncio.run(baseline.kafka_round(run.bootstrap, count))
    for group in asyncio.run(consumer_groups(run.bootstrap)) - groups_before:
        if group.startswith("bench-baseline-"):  # kafka_round leaves its group behind
            asyncio.run(delete_topics_and_group(run.bootstrap, [], group))
    log(f"raw baseline: PyMongo bulk upsert {count:,} documents, 500 per unordered bulk")
    mongo = asyncio.run(baseline.mongo_round(run.uri, count, batch=500))
    phases = [
        {
            "name": p.name,
            "items": p.items,
            "seconds": round(p.seconds, 2),
            "per_second": round(p.per_second),
            "mb_per_second": round(p.mb_per_second, 1),
        }
        for p in kafka + mongo
    ]
    for p in phases:
        log(f"  {p['name']}: {p['per_second']:,}/s")
    return {
        "record_bytes": size,
        "phases": phases,
        "kafka_produce_per_second": phases[0]["per_second"],
        "mongo_upsert_per_second": phases[-1]["per_second"],
    }


async def issued_record_bytes(run: Run) -> int | None:
    """Mean size of the run's own `credential.issued` records (up to 500 read)."""
    consumer = AIOKafkaConsumer(
        run.namespace + CREDENTIALS_TOPIC,
        bootstrap_servers=run.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    sizes: list[int] = []
    try:
        deadline = time.perf_counter() + 10
        while len(sizes) < 500 and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            sizes += [len(r.value or b"") for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    return round(sum(sizes) / len(sizes)) if sizes else None


async def clean_up(run: Run) -> None:
    """Drop the run's databases, topics and consumer groups."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(run.uri)
    try:
        for database in (run.issuer_db, run.registry_db):
            await client.drop_database(database)
    finally:
        await client.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=run.bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(run.namespace)]
    finally:
        await admin.close()
    groups = sorted(g for g in await consumer_groups(run.bootstrap) if g.startswith(run.tag))
    await delete_topics_and_group(run.bootstrap, topics, groups[0] if groups else run.tag)
    for group in groups[1:]:
        await delete_topics_and_group(run.bootstrap, [], group)
    log(f"dropped {run.issuer_db}, {run.registry_db}, {len(topics)} topics, groups {groups}")


# --- main ------------------------------------------------------------------------------------


def plan(args: argparse.Namespace) -> list[Phase]:
    """The phases of a run, in order."""
    phases: list[Phase] = []

    def add(suite: str, path: str, processes: int, replicas: int) -> None:
        phases.append(Phase(len(phases) + 1, suite, path, processes, replicas))

    for suite in args.suites:
        for path in args.paths:
            if path == "batch" and suite == "rdfc":
                for processes in args.signing_processes:
                    add(suite, path, processes, 1)
            else:
                add(suite, path, 1, 1)
    if args.replicas > 1:
        suite = "rdfc" if "rdfc" in args.suites else args.suites[0]
        for path in args.paths:
            add(suite, path, 1, args.replicas)
    return phases


def ratio(value: float, against: float) -> float:
    """value / against, 2 decimals."""
    return round(value / against, 2) if against else 0.0


def print_table(result: dict[str, Any]) -> None:
    """The phases next to the raw baseline and the targets."""
    raw = result["baseline"]
    print()
    print(
        f"raw baseline ({raw['record_bytes']} B records): "
        + ", ".join(f"{p['name']} {p['per_second']:,}/s" for p in raw["phases"])
    )
    head = (
        f"{'phase':28} {'accepted/s':>10} {'visible/s':>9} {'target':>6} {'/kafka':>6} "
        f"{'/mongo':>6} {'RSS MiB':>8} {'tree':>6} {'pss':>6} {'POST p50/p99/max ms (201/n)':>30}"
    )
    print(head)
    for p in result["phases"]:
        rss = p["issuer_rss_peak_mib"]
        single = p.get("single_posts")
        posts = (
            f"{single['p50_ms']:.0f}/{single['p99_ms']:.0f}/{single['max_ms']:.0f} "
            f"({single['created']}/{single['requests']})"
            if single
            else "-"
        )
        print(
            f"{p['phase']:28} {p['accepted_per_second']:>10,} {p['visible_per_second']:>9,} "
            f"{TARGETS_PER_SECOND[p['suite']]:>6,} {p['ratio_visible_to_raw_kafka_produce']:>6} "
            f"{p['ratio_visible_to_raw_mongo_upsert']:>6} {rss.get('main_rss', 0):>8} "
            f"{rss.get('tree_rss', 0):>6} {rss.get('tree_pss', 0):>6} {posts:>30}"
        )
    print(
        "CPU seconds until all visible: issuer / registry / mongo server / kafka / bench+vegeta"
        " / others (not this run) = machine"
    )
    for p in result["phases"]:
        cpu = p["cpu_seconds_to_visible"]
        print(
            f"  {p['phase']:28} {p['seconds_to_visible']:>6}s wall: {cpu['issuer']} / "
            f"{cpu['registry']} / {cpu['mongo_server']} / {cpu['kafka']} / "
            f"{cpu['bench_and_vegeta']} / {cpu[OTHERS]} = {cpu[MACHINE]} "
            f"({p['cpu_cores_busy']} cores busy)"
        )
    for p in result["phases"]:
        if p["spot_checks"]["problems"]:
            print(f"spot checks of {p['phase']}: {p['spot_checks']['problems']}")


def compact(text: str) -> str:
    """JSON text with arrays of numbers on one line."""
    return re.sub(
        r"\[\n\s+([-\d.,\s]+?)\n\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text
    )


def listed(kind: type, choices: set[str] | None = None) -> Callable[[str], list[Any]]:
    """An argparse type: a comma-separated list."""

    def parse(text: str) -> list[Any]:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        if choices is not None and not set(values) <= choices:
            raise argparse.ArgumentTypeError(f"choose from {sorted(choices)}")
        return values

    return parse


def git_commit() -> str | None:
    """The commit of the code measured (with "+changes" when services/ or shared/ differ)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "services", "shared"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+changes" if changed else head


def main() -> int:  # noqa: C901 - one linear script
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=20_000, help="per phase")
    parser.add_argument("--suites", type=listed(str, set(SUITES)), default=["rdfc", "jcs"])
    parser.add_argument("--paths", type=listed(str, {"batch", "kafka"}), default=["batch", "kafka"])
    parser.add_argument(
        "--signing-processes",
        type=listed(int),
        default=[0, 1, 2],
        help="CREDREG_SIGNING_PROCESSES of the batch+rdfc phase, one phase each (others: 1)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=2,
        help="N > 1: also each path with rdfc on N issuer replicas (one database and group)",
    )
    parser.add_argument("--rate", type=int, default=20, help="single POSTs/s during a batch")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between status polls")
    parser.add_argument("--baseline-count", type=int, default=0, help="default: --credentials")
    parser.add_argument("--log-level", default="INFO", help="CREDREG_LOG_LEVEL of the services")
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    uri = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/")
    infra = Path(os.environ.get("CREDREG_INFRA_DIR", REPO / ".local" / "infra")).resolve()
    tag = f"benchiss{uuid.uuid4().hex[:8]}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    work = WORK / tag
    infra_pids: dict[str, int | None] = {}
    for name in ("kafka", "mongo"):
        try:
            infra_pids[name] = int((infra / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            infra_pids[name] = None
    ports = [free_port() for _ in range(max(1, args.replicas))]
    registry = ServiceProcess(
        "registry",
        free_port(),
        {
            "CREDREG_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CREDREG_MONGODB_URI": uri,
            "CREDREG_TOPIC_NAMESPACE": f"{tag}.",
            "CREDREG_LOG_LEVEL": args.log_level,
            "CREDREG_MONGODB_DATABASE": f"{tag}_registry",
            "CREDREG_CONSUMER_GROUP": f"{tag}-registry",
            # Its verifier fetches the bench institutions' did:web documents from issuer 0.
            "CREDREG_DID_WEB_HOSTS": json.dumps(
                {f"localhost%3A{ports[0]}": f"http://127.0.0.1:{ports[0]}"}
            ),
        },
        work / "registry.log",
    )
    tool = ensure_tool() if args.rate > 0 and "batch" in args.paths else None
    if tool is not None and tool.name != "vegeta":
        log(f"vegeta could not be built ({tool.name} found): no single POSTs during batches")
        tool = None
    run = Run(
        args=args,
        bootstrap=bootstrap,
        uri=uri,
        tag=tag,
        kek=f"bench:{KeyEncryptionKeyring.generate_kek()}",
        issuer_ports=ports,
        registry=registry,
        infra_pids=infra_pids,
        sampler=RssSampler(),
        tool=tool,
        work=work,
    )
    phases = plan(args)
    result: dict[str, Any] = {
        "benchmark": "issuance",
        "measured_at": datetime.now(UTC).isoformat(),
        "commit": git_commit(),
        "machine": baseline.machine(),
        "parameters": vars(args),
        "namespace": run.namespace,
        "kafka": bootstrap,
        "mongodb": uri.split("@")[-1],
        "targets": {
            "credentials_per_second": TARGETS_PER_SECOND,
            "issuer_rss_mb_during_batch": TARGET_RSS_MB,
        },
        "notes": [
            "seconds_to_accepted / _visible: from the first batch POST or produced request to "
            "the poll (every --poll s) that saw every batch done / the registry's count reached "
            "(Kafka: the moment the last accepted result was read)",
            "visible counts include the single POSTs made during a batch (extra_visible)",
            "ratios: visible_per_second / the raw rates of the same run (bench/baseline.py)",
            "RSS: main_rss = the issuer process(es); tree_rss = with every descendant (signing "
            "pool, forkserver, resource tracker), shared pages counted in each; tree_pss = the "
            "same tree with shared pages split; replicas summed",
            "each phase starts its issuer(s) anew; the registry runs through the whole run, so "
            "later phases project into a larger view",
        ],
        "phases": [],
    }
    log(f"run {tag}: {len(phases)} phases: " + "; ".join(p.name for p in phases))
    log(f"logs in {work}")
    failure: BaseException | None = None
    run.sampler.start()
    try:
        result["baseline"] = raw_baseline(run)
        registry.start()
        registry.wait_ready()
        for phase in phases:
            log(
                f"starting {phase.replicas} issuer(s), "
                f"CREDREG_SIGNING_PROCESSES={phase.signing_processes}"
            )
            run.start_issuers(phase)
            try:
                figures = asyncio.run(measure_phase(run, phase))
            finally:
                run.sampler.watch([])
                run.stop_issuers()
            raw = result["baseline"]
            figures["ratio_visible_to_raw_kafka_produce"] = ratio(
                figures["visible_per_second"], raw["kafka_produce_per_second"]
            )
            figures["ratio_visible_to_raw_mongo_upsert"] = ratio(
                figures["visible_per_second"], raw["mongo_upsert_per_second"]
            )
            result["phases"].append(figures)
            rss = figures["issuer_rss_peak_mib"]
            log(
                f"  {phase.name}: {figures['accepted_per_second']:,}/s accepted, "
                f"{figures['visible_per_second']:,}/s visible; issuer RSS peak "
                f"{rss.get('main_rss')} MiB (tree {rss.get('tree_rss')}, pss {rss.get('tree_pss')})"
            )
        result["issued_record_bytes"] = asyncio.run(issued_record_bytes(run))
    except (BenchError, RuntimeError) as error:
        failure = error
        result["error"] = str(error)
        log(f"FAILED: {error}")
    finally:
        run.sampler.stop()
        run.stop_issuers()
        registry.stop()
        try:
            asyncio.run(clean_up(run))
        except Exception as error:  # noqa: BLE001 - report, keep the results
            log(f"clean-up failed: {error!r}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"issuance-{stamp}.json"
    path.write_text(compact(json.dumps(result, indent=2)) + "\n")
    if result["phases"]:
        print_table(result)
    print(f"\nwritten {path}")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
