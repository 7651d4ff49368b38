"""The fault driver (issue #15, part 1): the whole system as real processes on its own Kafka and
Mongo-wire server, a mixed lifecycle load through the public APIs, faults injected while it
runs, then every invariant checked from the log, the views, the status lists and the wallet.

Run: scripts/faults.sh [flags] (`make faults ARGS='--events 5000 --short'`).

1. Its own infrastructure (deploy/local/infra.py with CREDREG_INFRA_DIR, CREDREG_KAFKA_PORT,
   CREDREG_KAFKA_CONTROLLER_PORT and CREDREG_MONGO_PORT; private ports by default), so that it
   can SIGKILL the broker and the server and start them again (`infra.py up --only kafka`
   restarts the dead component only).
2. Two replicas of every service (issuer, revocation, registry, notifier: all four consume the
   credentials topic), each pair sharing its database and consumer group, on fixed ports so a
   replica comes back where it was. An institution created through the issuer's admin API
   (signing key sealed under a fresh KEK, status lists), registrar key from settings.
3. A loopback wallet (its own thread) that records every `webhook-id`; one subscription per
   holder, made by the institution.
4. Lifecycle scenarios, `--concurrency` at a time, until `--events` lifecycle events are
   planned: issue; issue + revoke; issue + suspend + reinstate (+ revoke); issue + suspend +
   revoke; reissue and supersede (`POST /v1/credentials/{id}/supersession`); issue with a
   `validUntil` a few seconds ahead (the revocation service's expiry scheduler publishes
   `credential.expired`), some of them suspended first. A request that gets a 5xx, a timeout or
   no connection is retried with the same Idempotency-Key and body, as a registrar would;
   "acknowledged" is a 2xx answer. A request that never got one is not counted as lost.
5. Faults while the load runs, spread over it: SIGKILL of each service in turn (both replicas)
   then a restart; SIGKILL of the Kafka broker, then a restart; SIGKILL of the Mongo-wire
   server, then a restart; the wallet down (connection refused) for `--webhook-down` seconds;
   one replica of each service SIGKILLed (the other takes its partitions), restarted later.
6. Checks, once the load is done and the system has settled (every wait bounded):
   - the log: `credreg.credentials` read from the beginning with aiokafka; per credential,
     acknowledged effects present (lost), no effect twice (duplicated: two `credential.issued`
     for one Idempotency-Key, two revocations…), the order of the acknowledged actions and the
     lifecycle's transitions (out of order), and an `expired` for each credential past its
     `validUntil` that was not revoked;
   - the registry's view of every credential (visible, with the final status the log implies);
   - the status lists served by the issuer: each credential's bit set iff it is revoked;
   - notices: every notice event on the log × each matching subscription → its `webhook-id`
     (the notifier's deterministic id) received by the wallet, or `dead` in the deliveries API;
     a `webhook-id` received more than once is a redelivery (the wallet dedupes by it, as
     Standard Webhooks says); a notice the log does not explain is a duplicate.

Prints a table, writes JSON to bench/faults/runs/faults-<timestamp>.json and exits 1 on any
lost, duplicated, out-of-order, wrong bit, wrong view or missing notice (2 when it could not
run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from credreg_shared.credentials.bitstring import Bitstring
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.credentials.keys import Ed25519KeyPair

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUNS = HERE / "runs"
INFRA = REPO / "deploy" / "local" / "infra.py"
sys.path.insert(0, str(REPO / "deploy" / "local"))
from service_processes import ServiceProcess, free_port  # noqa: E402

SERVICES = ("issuer", "revocation", "registry", "notifier")
REPLICAS = ("a", "b")
ADMIN_KEY = "faults-admin-key"
REGISTRAR_KEY = "faults-registrar-key"
SLUG = "faults-university"
TYPE_PREFIX = "org.credreg.credential."
ISSUED, REVOKED, SUSPENDED, REINSTATED = "issued", "revoked", "suspended", "reinstated"
EXPIRED, EXPIRING = "expired", "expiring"
NOTICE_TYPES = (REVOKED, SUSPENDED, REINSTATED, EXPIRED, EXPIRING)
# What may follow what in one credential's log (expiring notices are left out: they may come
# at any time while a credential is active or suspended).
ALLOWED = {
    None: {ISSUED},
    ISSUED: {REVOKED, SUSPENDED, EXPIRED},
    REINSTATED: {REVOKED, SUSPENDED, EXPIRED},
    SUSPENDED: {REINSTATED, REVOKED, EXPIRED},
    REVOKED: set(),
    EXPIRED: set(),
}
FINAL_STATUS = {
    ISSUED: "active",
    REINSTATED: "active",
    SUSPENDED: "suspended",
    REVOKED: "revoked",
    EXPIRED: "expired",
}
# Scenario → (weight, lifecycle events it plans, not counting expiring notices).
SCENARIOS: dict[str, tuple[int, int]] = {
    "issue": (20, 1),
    "revoke": (20, 2),
    "suspend-reinstate": (14, 3),
    "suspend-reinstate-revoke": (8, 4),
    "suspend-revoke": (6, 3),
    "supersede": (14, 3),
    "expire": (12, 2),
    "suspend-expire": (6, 3),
}


def log(message: str) -> None:
    print(f"[faults {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# --- infrastructure and processes -------------------------------------------------------------


@dataclass
class Infra:
    """The launcher's Kafka broker and Mongo-wire server, on this run's own folder and ports."""

    state: Path
    kafka_port: int
    controller_port: int
    mongo_port: int

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CREDREG_INFRA_DIR": str(self.state),
            "CREDREG_KAFKA_PORT": str(self.kafka_port),
            "CREDREG_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "CREDREG_MONGO_PORT": str(self.mongo_port),
        }

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    def run(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - our own launcher
            [sys.executable, str(INFRA), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"infra.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    def up(self, only: str | None = None) -> None:
        self.run("up", *(["--only", only] if only else []))

    def kill(self, name: str) -> int:
        """SIGKILL a component's process group (it runs in its own session); its pid."""
        pid = int((self.state / f"{name}.pid").read_text().strip())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        return pid

    def down(self) -> None:
        self.run("down", "--wipe")


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@dataclass
class Cluster:
    """Two replicas of each service, each pair on one database and one consumer group."""

    base_env: dict[str, str]
    log_dir: Path
    namespace: str
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, replica in itertools.product(SERVICES, REPLICAS):
            self.ports[f"{name}-{replica}"] = free_port()
        issuer = f"http://127.0.0.1:{self.ports['issuer-a']}"
        self.base_env.update(
            {
                "CREDREG_DID_WEB_HOST": f"localhost:{self.ports['issuer-a']}",
                "CREDREG_STATUS_LIST_BASE_URL": issuer,
                "CREDREG_ISSUER_URL": issuer,
            }
        )

    def env_for(self, name: str) -> dict[str, str]:
        return {
            **self.base_env,
            "CREDREG_MONGODB_DATABASE": f"faults_{self.namespace}_{name}",
            "CREDREG_CONSUMER_GROUP": f"faults-{self.namespace}-{name}",
        }

    def start(self, name: str, replica: str) -> ServiceProcess:
        key = f"{name}-{replica}"
        process = ServiceProcess(
            name, self.ports[key], self.env_for(name), self.log_dir / f"{key}.log"
        )
        process.start()
        self.processes[key] = process
        return process

    def start_all(
        self, names: tuple[str, ...] = SERVICES, replicas: tuple[str, ...] = REPLICAS
    ) -> None:
        started = [self.start(n, r) for n in names for r in replicas]
        for process in started:
            process.wait_ready(180)

    def kill(self, key: str) -> None:
        process = self.processes[key]
        if process.process is not None and process.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.process.pid, signal.SIGKILL)
            process.process.wait(30)

    def urls(self, name: str) -> list[str]:
        return [f"http://127.0.0.1:{self.ports[f'{name}-{r}']}" for r in REPLICAS]

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop(20)


# --- the wallet ---------------------------------------------------------------------------------


@dataclass
class Wallet:
    """A loopback webhook target that counts every `webhook-id`; it can be taken down."""

    port: int = field(default_factory=free_port)
    received: Counter[str] = field(default_factory=Counter)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        wallet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                webhook_id = self.headers.get("webhook-id", "")
                with wallet.lock:
                    wallet.received[webhook_id] += 1
                    if webhook_id not in wallet.bodies:
                        with contextlib.suppress(ValueError):
                            wallet.bodies[webhook_id] = json.loads(body)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet."""

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.received)


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Step:
    """One request of a scenario and what came of it."""

    action: str  # issue, revoke, suspend, reinstate, supersede
    outcome: str = "pending"  # acked, unknown (maybe applied), refused, gave-up
    status: int | None = None
    attempts: int = 0


@dataclass
class Credential:
    id: str
    holder: str
    scenario: str
    idempotency_key: str
    valid_until: datetime | None = None
    status_entry: dict[str, Any] | None = None
    steps: list[Step] = field(default_factory=list)
    superseded_by: str | None = None
    replacement_of: str | None = None


class Outage(Exception):
    """No usable answer (no connection, a timeout, a 5xx): retry the same request."""


@dataclass
class Load:
    cluster: Cluster
    client: httpx.AsyncClient
    holders: list[str]
    run_id: str
    patience: float
    rng: random.Random
    expiry_seconds: tuple[int, int]
    credentials: dict[str, Credential] = field(default_factory=dict)
    planned: int = 0
    acked: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=itertools.count)
    rr: itertools.count[int] = field(default_factory=itertools.count)
    headers: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {REGISTRAR_KEY}"}
    )

    async def request(
        self, service: str, path: str, body: dict[str, Any], key: str
    ) -> httpx.Response:
        """POST to a replica (round robin); transport errors and 5xx are an Outage."""
        urls = self.cluster.urls(service)
        url = urls[next(self.rr) % len(urls)]
        try:
            answer = await self.client.post(
                f"{url}{path}", json=body, headers={**self.headers, "Idempotency-Key": key}
            )
        except httpx.HTTPError as error:
            raise Outage(type(error).__name__) from None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise Outage(str(answer.status_code))
        return answer

    async def step(
        self,
        step: Step,
        service: str,
        path: str,
        body: dict[str, Any],
        key: str,
        *,
        retry_404: bool,
    ) -> httpx.Response | None:
        """Send until a definite answer: 2xx acked; 409 after an unclear attempt unknown."""
        deadline = time.monotonic() + self.patience
        unclear = False
        delay = 0.2
        while True:
            step.attempts += 1
            try:
                answer = await self.request(service, path, body, key)
            except Outage:
                unclear = True
            else:
                step.status = answer.status_code
                if answer.is_success:
                    step.outcome = "acked"
                    self.acked[step.action] += 1
                    self.outcomes["acked"] += 1
                    return answer
                if not (answer.status_code == 404 and retry_404):
                    step.outcome = "unknown" if unclear else "refused"
                    self.outcomes[step.outcome] += 1
                    return answer
            if time.monotonic() > deadline:
                step.outcome = "gave-up"
                self.outcomes["gave-up"] += 1
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def issue_body(self, holder: str, name: str, valid_until: datetime | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "holder_id": holder,
            "achievement": {
                "name": name,
                "competencies": [{"name": "Handle faults", "code": "FT-1"}],
                "hours": 6,
                "delivery_mode": "online",
            },
        }
        if valid_until is not None:
            body["valid_until"] = valid_until.isoformat()
        return body

    async def issue(self, scenario: str, expires: bool) -> Credential | None:
        n = next(self.counter)
        holder = self.holders[n % len(self.holders)]
        key = f"{self.run_id}-{n}"
        valid_until = None
        if expires:
            ahead = self.rng.randint(*self.expiry_seconds)
            valid_until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ahead)
        body = self.issue_body(holder, f"Fault tolerance {n % 7}", valid_until)
        step = Step("issue")
        answer = await self.step(step, "issuer", "/v1/credentials", body, key, retry_404=False)
        if answer is None or not answer.is_success:
            if answer is not None:
                self.unexpected.append(f"issue {key}: {answer.status_code} {answer.text[:200]}")
            return None
        issued = answer.json()
        credential = Credential(
            issued["id"], holder, scenario, key, valid_until, _status_entry(issued["credential"])
        )
        credential.steps.append(step)
        self.credentials[credential.id] = credential
        return credential

    async def change(self, credential: Credential, action: str) -> bool:
        """Revoke, suspend or reinstate; True when it may have been applied."""
        route = {"revoke": "revocation", "suspend": "suspension", "reinstate": "reinstatement"}
        body = {"reason": f"faults {action}"} if action != "reinstate" else {}
        step = Step(action)
        credential.steps.append(step)
        key = f"{credential.idempotency_key}-{action}-{len(credential.steps)}"
        path = f"/v1/credentials/{credential.id}/{route[action]}"
        answer = await self.step(step, "revocation", path, body, key, retry_404=True)
        if step.outcome == "refused" and answer is not None:
            expired = credential.valid_until is not None and answer.status_code == 409
            if not expired:
                self.unexpected.append(
                    f"{action} {credential.id}: {answer.status_code} {answer.text[:200]}"
                )
        return step.outcome in ("acked", "unknown")

    async def supersede(self, credential: Credential) -> None:
        step = Step("supersede")
        credential.steps.append(step)
        n = next(self.counter)
        body = {
            "replacement": self.issue_body(credential.holder, f"Fault tolerance v2 {n % 7}", None),
            "reason": "superseded",
        }
        path = f"/v1/credentials/{credential.id}/supersession"
        answer = await self.step(
            step, "revocation", path, body, f"supersede-{credential.id}", retry_404=True
        )
        if answer is None or not answer.is_success:
            if answer is not None:
                self.unexpected.append(
                    f"supersede {credential.id}: {answer.status_code} {answer.text[:200]}"
                )
            return
        replacement = answer.json()["replacement"]
        new = Credential(
            replacement["id"],
            credential.holder,
            "replacement",
            f"supersedes:{credential.id}",
            None,
            _status_entry(replacement["credential"]),
        )
        new.steps.append(Step("issue", outcome="acked", status=answer.status_code))
        new.replacement_of = credential.id
        credential.superseded_by = new.id
        self.credentials[new.id] = new

    async def scenario(self, name: str) -> None:
        credential = await self.issue(name, expires=name.endswith("expire"))
        if credential is None:
            return
        if name == "revoke":
            await self.change(credential, "revoke")
        elif name.startswith("suspend"):
            if not await self.change(credential, "suspend"):
                return
            if name == "suspend-revoke":
                await self.change(credential, "revoke")
            elif name.startswith("suspend-reinstate"):
                if await self.change(credential, "reinstate") and name.endswith("revoke"):
                    await self.change(credential, "revoke")
        elif name == "supersede":
            await self.supersede(credential)

    async def run(self, events: int, concurrency: int) -> None:
        names = list(SCENARIOS)
        weights = [SCENARIOS[n][0] for n in names]
        running: set[asyncio.Task[None]] = set()
        while self.planned < events or running:
            while self.planned < events and len(running) < concurrency:
                name = self.rng.choices(names, weights)[0]
                self.planned += SCENARIOS[name][1]
                running.add(asyncio.create_task(self.scenario(name)))
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None:
                    self.unexpected.append(f"scenario crashed: {task.exception()!r}")


def _status_entry(credential: dict[str, Any]) -> dict[str, Any] | None:
    status = credential.get("credentialStatus")
    if isinstance(status, list):
        status = status[0] if status else None
    return status if isinstance(status, dict) else None


# --- faults ---------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    target: str
    started: float = 0.0
    down_seconds: float = 0.0
    recovered_seconds: float = 0.0
    during_load: bool = True
    note: str = ""


@dataclass
class Injector:
    infra: Infra
    cluster: Cluster
    wallet: Wallet
    down: float
    webhook_down: float
    replica_down: float
    t0: float
    done: list[Fault] = field(default_factory=list)

    def plan(self, rounds: int) -> list[tuple[str, str]]:
        one = [
            *[("service", name) for name in SERVICES],
            ("broker", "kafka"),
            ("mongo", "mongo"),
            ("webhook", "wallet"),
            ("replica", "b"),
        ]
        return one * rounds

    async def inject(self, kind: str, target: str) -> Fault:
        fault = Fault(kind, target, started=round(time.monotonic() - self.t0, 1))
        log(f"fault: {kind} {target}")
        began = time.monotonic()
        if kind == "service":
            for replica in REPLICAS:
                self.cluster.kill(f"{target}-{replica}")
            await asyncio.sleep(self.down)
            fault.down_seconds = round(time.monotonic() - began, 1)
            await asyncio.to_thread(self.cluster.start_all, (target,))
        elif kind in ("broker", "mongo"):
            pid = await asyncio.to_thread(self.infra.kill, target)
            fault.note = f"pid {pid}"
            await asyncio.sleep(self.down)
            fault.down_seconds = round(time.monotonic() - began, 1)
            await asyncio.to_thread(self.infra.up, target)
        elif kind == "webhook":
            self.wallet.stop()
            await asyncio.sleep(self.webhook_down)
            fault.down_seconds = round(time.monotonic() - began, 1)
            self.wallet.start()
        elif kind == "replica":
            for name in SERVICES:
                self.cluster.kill(f"{name}-{target}")
            await asyncio.sleep(self.replica_down)
            fault.down_seconds = round(time.monotonic() - began, 1)
            await asyncio.to_thread(self.cluster.start_all, SERVICES, (target,))
        fault.recovered_seconds = round(time.monotonic() - began, 1)
        log(
            f"fault over: {kind} {target} (down {fault.down_seconds}s,"
            f" back after {fault.recovered_seconds}s)"
        )
        self.done.append(fault)
        return fault

    async def run(self, load: Load, events: int, rounds: int, finished: asyncio.Event) -> None:
        """Each fault when its share of the load is planned (they follow one another)."""
        plan = self.plan(rounds)
        for index, (kind, target) in enumerate(plan):
            threshold = events * (index + 1) / (len(plan) + 1)
            while load.planned < threshold and not finished.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            during_load = not finished.is_set()
            fault = await self.inject(kind, target)
            fault.during_load = during_load


# --- checks ---------------------------------------------------------------------------------------


async def read_log(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of the credentials topic, in partition order (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public call
        found = sorted(cluster.partitions_for_topic(topic) or ())
        if not found:
            raise RuntimeError(f"no partitions for {topic}")
        partitions = [TopicPartition(topic, p) for p in found]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[dict[str, Any]] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + 600
        while remaining and time.monotonic() < deadline:
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=120)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        continue
                    headers = {k: v.decode() for k, v in message.headers}
                    records.append(
                        {
                            "partition": tp.partition,
                            "offset": message.offset,
                            "key": message.key.decode() if message.key else None,
                            "type": headers.get("ce_type", ""),
                            "id": headers.get("ce_id", ""),
                            "source": headers.get("ce_source", ""),
                            "timestamp": datetime.fromtimestamp(
                                message.timestamp / 1000, UTC
                            ).isoformat(timespec="milliseconds"),
                            "data": json.loads(message.value) if message.value else {},
                        }
                    )
                    if message.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        if remaining:
            raise RuntimeError(f"could not read {topic} to its end: {remaining}")
        return records
    finally:
        await consumer.stop()


def short_type(ce_type: str) -> str:
    return ce_type.removeprefix(TYPE_PREFIX).rsplit(".v", 1)[0]


@dataclass
class Verdict:
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Per credential, how many events of each kind its acknowledged actions allow at most.
    maxima: dict[str, Counter[str]] = field(default_factory=dict)


def check_log(
    load: Load, records: list[dict[str, Any]], now: datetime
) -> tuple[Verdict, dict[str, list[dict[str, Any]]]]:
    """Lost, duplicated and out-of-order effects per credential, from the log."""
    verdict = Verdict()
    by_credential: dict[str, list[dict[str, Any]]] = defaultdict(list)
    types: Counter[str] = Counter()
    first: dict[str, dict[str, Any]] = {}
    repeats: list[str] = []
    evidence: dict[str, Any] = {}
    for record in records:
        kind = short_type(record["type"])
        if record["id"] in first:
            # The same event again (a publish retried after an unclear ack: deterministic ids):
            # consumers apply an event id once, so it is not a second effect. Counted apart.
            earlier = first[record["id"]]
            repeats.append(
                f"{kind} {record['id']} of {record['key']}: offsets {earlier['partition']}:"
                f"{earlier['offset']} ({earlier['timestamp']}) and {record['offset']}"
                f" ({record['timestamp']})"
            )
            continue
        first[record["id"]] = record
        types[kind] += 1
        if record["key"] is not None:
            by_credential[record["key"]].append({**record, "kind": kind})
    lost = duplicated = out_of_order = expiry_missing = foreign = not_as_acknowledged = 0
    acked_effects = 0
    for credential_id, events in by_credential.items():
        if credential_id not in load.credentials:
            foreign += 1
            verdict.problems.append(
                f"credential {credential_id} on the log, never acknowledged to the driver: "
                + ", ".join(
                    f"{e['kind']} {e['id']} {e['partition']}:{e['offset']} {e['timestamp']}"
                    f" {json.dumps(e['data'])[:300]}"
                    for e in events
                )
            )
    for credential in load.credentials.values():
        events = by_credential.get(credential.id, [])
        kinds = [e["kind"] for e in events]
        counts = Counter(kinds)
        minimum: Counter[str] = Counter()
        maximum: Counter[str] = Counter()
        for step in credential.steps:
            produced = {
                "issue": [ISSUED],
                "revoke": [REVOKED],
                "suspend": [SUSPENDED],
                "reinstate": [REINSTATED],
                "supersede": [REVOKED],
            }[step.action]
            for kind in produced:
                if step.outcome == "acked":
                    minimum[kind] += 1
                    maximum[kind] += 1
                    acked_effects += 1
                elif step.outcome in ("unknown", "gave-up"):
                    maximum[kind] += 1
        maximum[ISSUED] = 1
        verdict.maxima[credential.id] = maximum
        wrong = False
        # An expired notice: past validUntil and not revoked before it.
        revoked = counts[REVOKED] > 0
        if credential.valid_until is not None and credential.valid_until < now and not revoked:
            minimum[EXPIRED] = 1
        if credential.valid_until is not None:
            maximum[EXPIRED] = 1
            maximum[EXPIRING] = 1  # one lead time (the default policy)
        for kind in (ISSUED, REVOKED, SUSPENDED, REINSTATED, EXPIRED, EXPIRING):
            if counts[kind] < minimum[kind]:
                if kind == EXPIRED:
                    expiry_missing += 1
                else:
                    lost += minimum[kind] - counts[kind]
                wrong = True
                verdict.problems.append(
                    f"lost: {credential.id} has {counts[kind]} {kind}, acknowledged {minimum[kind]}"
                    f" ({[s.action + ':' + s.outcome for s in credential.steps]})"
                )
            if counts[kind] > maximum[kind]:
                duplicated += counts[kind] - maximum[kind]
                wrong = True
                verdict.problems.append(
                    f"duplicated: {credential.id} has {counts[kind]} {kind} (at most"
                    f" {maximum[kind]}; {[s.action + ':' + s.outcome for s in credential.steps]})"
                )
        # Lifecycle transitions, in log order (an event repeated at once is a duplicate, above,
        # not a change of order).
        state: str | None = None
        bad = False
        for kind in kinds:
            if kind == EXPIRING or kind == state:
                continue
            if kind not in ALLOWED.get(state, set()):
                bad = True
                break
            state = kind
        # The acknowledged actions appear in the order they were acknowledged.
        acked_sequence = [
            {
                "revoke": REVOKED,
                "suspend": SUSPENDED,
                "reinstate": REINSTATED,
                "supersede": REVOKED,
            }[s.action]
            for s in credential.steps
            if s.outcome == "acked" and s.action != "issue"
        ]
        logged = [k for k in kinds if k in (REVOKED, SUSPENDED, REINSTATED)]
        if not _is_subsequence(acked_sequence, logged):
            bad = True
        if bad:
            out_of_order += 1
            wrong = True
            verdict.problems.append(f"out of order: {credential.id}: log {kinds}")
        # Where every request was answered, the log ends where the last acknowledged one left it.
        intended = intended_status(credential, now)
        logged_status = expected_status(events)
        if intended is not None and logged_status is not None and intended != logged_status:
            not_as_acknowledged += 1
            wrong = True
            verdict.problems.append(
                f"final status: {credential.id} ends {logged_status} on the log, the acknowledged"
                f" requests leave it {intended}: log {kinds}"
            )
        if wrong and len(evidence) < 20:
            evidence[credential.id] = {
                "steps": [vars(step) for step in credential.steps],
                "valid_until": credential.valid_until,
                "log": [
                    {k: e[k] for k in ("kind", "id", "partition", "offset", "timestamp", "source")}
                    for e in events
                ],
            }
    verdict.figures = {
        "log_records": len(records),
        "log_by_type": dict(types),
        "acknowledged_effects": acked_effects,
        "lost": lost,
        "duplicated": duplicated,
        "same_event_id_twice": len(repeats),
        "same_event_id_examples": repeats[:20],
        "out_of_order": out_of_order,
        "final_status_not_as_acknowledged": not_as_acknowledged,
        "expired_missing": expiry_missing,
        "foreign_credentials": foreign,
        "evidence": evidence,
    }
    return verdict, by_credential


def _is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(any(kind == s for s in it) for kind in wanted)


def intended_status(credential: Credential, now: datetime) -> str | None:
    """The status the acknowledged requests leave the credential in; None when a request's
    fate is unclear (answered neither yes nor no) or the expiry is too close to call."""
    if any(step.outcome not in ("acked", "refused") for step in credential.steps):
        return None
    status = "active"
    for step in credential.steps:
        if step.outcome == "acked":
            status = {
                "issue": "active",
                "revoke": "revoked",
                "supersede": "revoked",
                "suspend": "suspended",
                "reinstate": "active",
            }[step.action]
    if credential.valid_until is not None and status != "revoked":
        if credential.valid_until < now - timedelta(seconds=1):
            return "expired"
        return None if credential.valid_until < now + timedelta(seconds=5) else status
    return status


def expected_status(events: list[dict[str, Any]]) -> str | None:
    """The status the log gives a credential, its events applied as the lifecycle allows (an
    event a state does not allow, such as a suspension after a revocation, changes nothing:
    it is counted as out of order)."""
    state = None
    for event in events:
        if event["kind"] in ALLOWED.get(state, set()):
            state = event["kind"]
    return FINAL_STATUS.get(state) if state else None


async def eventually(check: Callable[[], Awaitable[Any]], within: float, every: float = 3.0) -> Any:
    """The last value of `check` once it is truthy or the time is up."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value[0] or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


async def check_views(
    load: Load, by_credential: dict[str, list[dict[str, Any]]], within: float
) -> Verdict:
    """Every credential visible in the registry with the status its log gives it."""
    client, headers = load.client, load.headers
    urls = load.cluster.urls("registry")
    pending = {c: expected_status(by_credential.get(c, [])) for c in load.credentials}
    pending = {c: s for c, s in pending.items() if s is not None}
    total = len(pending)
    seen: dict[str, str | None] = {}
    semaphore = asyncio.Semaphore(16)

    async def one(credential_id: str, n: int) -> None:
        async with semaphore:
            try:
                answer = await client.get(
                    f"{urls[n % 2]}/v1/credentials/{credential_id}", headers=headers
                )
            except httpx.HTTPError:
                seen[credential_id] = None
                return
            seen[credential_id] = answer.json().get("status") if answer.status_code == 200 else None

    async def round_() -> tuple[bool, int]:
        wrong = [c for c in pending if seen.get(c) != pending[c]]
        await asyncio.gather(*(one(c, n) for n, c in enumerate(wrong)))
        still = [c for c in pending if seen.get(c) != pending[c]]
        return (not still, len(still))

    await eventually(round_, within)
    invisible = [c for c in pending if seen.get(c) is None]
    wrong = [c for c in pending if seen.get(c) is not None and seen[c] != pending[c]]
    verdict = Verdict(
        {
            "credentials": total,
            "visible": total - len(invisible),
            "invisible": len(invisible),
            "wrong_status": len(wrong),
        }
    )
    for c in invisible[:20]:
        verdict.problems.append(f"registry: {c} not visible (log says {pending[c]})")
    for c in wrong[:20]:
        verdict.problems.append(f"registry: {c} is {seen[c]}, log says {pending[c]}")
    return verdict


async def check_status_lists(
    load: Load, by_credential: dict[str, list[dict[str, Any]]], within: float
) -> Verdict:
    """Each credential's bit in its served status list: set iff it is revoked."""
    issuers = load.cluster.urls("issuer")
    wanted: dict[str, list[tuple[int, bool, str]]] = defaultdict(list)
    without_entry = 0
    for credential in load.credentials.values():
        entry = credential.status_entry
        if entry is None:
            without_entry += 1
            continue
        events = by_credential.get(credential.id, [])
        if not events:
            continue
        revoked = any(e["kind"] == REVOKED for e in events)
        list_id = str(entry["statusListCredential"]).rsplit("/", 1)[-1]
        wanted[list_id].append((int(entry["statusListIndex"]), revoked, credential.id))
    wrong: list[str] = []

    async def round_() -> tuple[bool, int]:
        wrong.clear()
        for n, (list_id, bits) in enumerate(wanted.items()):
            try:
                answer = await load.client.get(f"{issuers[n % 2]}/v1/status-lists/{list_id}")
                encoded = answer.json()["credentialSubject"]["encodedList"]
            except (httpx.HTTPError, KeyError, ValueError):
                wrong.extend(c for _, _, c in bits)
                continue
            bitstring = Bitstring.decode(encoded)
            wrong.extend(c for index, revoked, c in bits if bitstring.get(index) != revoked)
        return (not wrong, len(wrong))

    await eventually(round_, within)
    checked = sum(len(b) for b in wanted.values())
    verdict = Verdict(
        {
            "lists": len(wanted),
            "bits_checked": checked,
            "bits_wrong": len(wrong),
            "credentials_without_status_entry": without_entry,
        }
    )
    verdict.problems += [f"status list: wrong bit for {c}" for c in wrong[:20]]
    if without_entry:
        verdict.problems.append(f"{without_entry} credentials carry no status entry")
    return verdict


async def check_notices(
    load: Load,
    wallet: Wallet,
    subscriptions: dict[str, str],
    records: list[dict[str, Any]],
    maxima: dict[str, Counter[str]],
    within: float,
) -> Verdict:
    """Every notice event × matching subscription: received by `webhook-id`, or dead."""
    from credreg_notifier.domain import delivery_id

    expected: dict[str, tuple[str, str]] = {}
    change: dict[str, tuple[str, str, str]] = {}  # webhook-id → (subscription, credential, kind)
    for record in records:
        kind = short_type(record["type"])
        holder = record["data"].get("holder_id")
        if kind in NOTICE_TYPES and holder in subscriptions:
            subscription = subscriptions[holder]
            webhook_id = delivery_id(subscription, record["id"])
            expected[webhook_id] = (subscription, record["id"])
            change[webhook_id] = (subscription, str(record["key"]), kind)

    async def round_() -> tuple[bool, int]:
        received = wallet.snapshot()
        missing = [w for w in expected if w not in received]
        return (not missing, len(missing))

    await eventually(round_, within)
    received = wallet.snapshot()
    missing = [w for w in expected if w not in received]
    unexplained = [w for w in received if w not in expected]
    again = sum(n - 1 for w, n in received.items() if w in expected and n > 1)
    # One change told more than once: distinct webhook-ids (distinct events on the log) for one
    # (subscription, credential, kind) beyond what the acknowledged actions allow.
    per_change = Counter(change[w] for w in received if w in change)
    told_twice = [  # (credentials the driver never got an answer for have no maxima)
        (key, n)
        for key, n in per_change.items()
        if key[1] in maxima and n > maxima[key[1]].get(key[2], 0)
    ]
    told_twice_extra = sum(n - maxima.get(k[1], Counter()).get(k[2], 0) for k, n in told_twice)
    dead: list[str] = []
    unknown: list[str] = []
    by_subscription: dict[str, set[str]] = defaultdict(set)
    for w in missing:
        by_subscription[expected[w][0]].add(w)
    urls = load.cluster.urls("notifier")
    for subscription, ids in by_subscription.items():
        try:
            answer = await load.client.get(
                f"{urls[0]}/v1/subscriptions/{subscription}/deliveries", headers=load.headers
            )
            listed = {d["id"]: d["status"] for d in answer.json()["deliveries"]}
        except (httpx.HTTPError, KeyError, ValueError):
            listed = {}
        for w in ids:
            (dead if listed.get(w) == "dead" else unknown).append(w)
    verdict = Verdict(
        {
            "expected": len(expected),
            "delivered": len(expected) - len(missing),
            "redelivered_same_webhook_id": again,
            "duplicate": len(unexplained) + told_twice_extra,
            "one_change_told_more_than_once": len(told_twice),
            "dead": len(dead),
            "neither_delivered_nor_dead": len(unknown),
        }
    )
    verdict.problems += [f"notice {w} neither delivered nor dead" for w in unknown[:20]]
    verdict.problems += [f"notice {w} not explained by the log" for w in unexplained[:20]]
    verdict.problems += [
        f"wallet told {n} times: {kind} of {credential} (subscription {subscription})"
        for (subscription, credential, kind), n in told_twice[:20]
    ]
    return verdict


# --- the run --------------------------------------------------------------------------------


async def setup(
    cluster: Cluster, client: httpx.AsyncClient, holders: list[str], wallet: Wallet
) -> dict[str, str]:
    """The institution (admin API) and one subscription per holder; holder → subscription."""
    issuer = cluster.urls("issuer")[0]
    made = await client.post(
        f"{issuer}/v1/institutions",
        json={"slug": SLUG, "name": "Faults University"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    if made.status_code != 201:
        raise RuntimeError(f"institution: {made.status_code} {made.text}")
    subscriptions: dict[str, str] = {}
    notifier = cluster.urls("notifier")[0]
    for holder in holders:
        answer = await client.post(
            f"{notifier}/v1/subscriptions",
            json={"holder_id": holder, "url": wallet.url},
            headers={"Authorization": f"Bearer {REGISTRAR_KEY}"},
        )
        if answer.status_code != 201:
            raise RuntimeError(f"subscription: {answer.status_code} {answer.text}")
        subscriptions[holder] = answer.json()["id"]
    return subscriptions


def code_snapshot(revision: str, dest: Path) -> str:
    """The services' and shared packages' code as committed at `revision` (`git archive`), so
    that files being edited while the driver runs are not what it restarts; its PYTHONPATH."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(  # noqa: S603 - fixed git command
        ["git", "archive", revision, "shared/src", "services"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)  # noqa: S603,S607
    paths = [dest / "shared" / "src", *(dest / "services" / s / "src" for s in SERVICES)]
    return os.pathsep.join(str(p) for p in paths)


def base_env(infra: Infra, namespace: str, args: argparse.Namespace) -> dict[str, str]:
    code = {}
    if args.code_from_git:
        dest = REPO / ".local" / "faults-code" / namespace
        code["PYTHONPATH"] = code_snapshot(args.code_from_git, dest)
    return {
        **code,
        "CREDREG_KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "CREDREG_MONGODB_URI": infra.mongo,
        "CREDREG_TOPIC_NAMESPACE": f"faults-{namespace}.",
        "CREDREG_ADMIN_API_KEY": ADMIN_KEY,
        "CREDREG_KEY_ENCRYPTION_KEY": f"faults:{KeyEncryptionKeyring.generate_kek()}",
        "CREDREG_HOLDER_TOKEN_KEY": Ed25519KeyPair.generate().secret_multikey,
        "CREDREG_CREDENTIAL_ID_SECRET": f"faults-{uuid.uuid4().hex}",
        "CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
        # Enough attempts to outlast the wallet's outage (1 + 2 + 4 + 8 + 10 × n seconds).
        "CREDREG_WEBHOOK_BACKOFF_BASE_SECONDS": "1",
        "CREDREG_WEBHOOK_BACKOFF_MAX_SECONDS": "10",
        "CREDREG_WEBHOOK_MAX_ATTEMPTS": str(args.webhook_attempts),
        "CREDREG_SUBSCRIPTIONS_PER_OWNER": "5000",
        "CREDREG_SUBSCRIPTIONS_CREATED_PER_MINUTE": "5000",
        "CREDREG_EXPIRY_POLL_SECONDS": "1",
        "CREDREG_OUTBOX_POLL_SECONDS": "2",
        "CREDREG_PUBLISH_TIMEOUT_SECONDS": "5",
        "CREDREG_SIGNING_PROCESSES": "0",
        "CREDREG_LOG_LEVEL": "WARNING",
    }


async def drive(args: argparse.Namespace, infra: Infra, log_dir: Path) -> dict[str, Any]:
    namespace = uuid.uuid4().hex[:8]
    env = base_env(infra, namespace, args)
    cluster = Cluster(env, log_dir, namespace)
    did = f"did:web:localhost%3A{cluster.ports['issuer-a']}:institutions:{SLUG}"
    env["CREDREG_API_KEYS"] = json.dumps({REGISTRAR_KEY: did})
    wallet = Wallet()
    wallet.start()
    log(f"starting 2 replicas of {', '.join(SERVICES)} (logs in {log_dir})")
    await asyncio.to_thread(cluster.start_all)
    holders = [f"did:example:faults-{namespace}-{h}" for h in range(args.holders)]
    timeout = httpx.Timeout(30.0, connect=5.0)
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    try:
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            subscriptions = await setup(cluster, client, holders, wallet)
            t0 = time.monotonic()
            load = Load(
                cluster,
                client,
                holders,
                namespace,
                args.patience,
                random.Random(args.seed),
                (args.expiry_min, args.expiry_max),
            )
            injector = Injector(
                infra, cluster, wallet, args.down, args.webhook_down, args.replica_down, t0
            )
            finished = asyncio.Event()
            faults = asyncio.create_task(injector.run(load, args.events, args.rounds, finished))
            progress = asyncio.create_task(_progress(load, args.events))
            log(f"load: {args.events} lifecycle events, {args.concurrency} scenarios at a time")
            await load.run(args.events, args.concurrency)
            load_seconds = time.monotonic() - t0
            finished.set()
            await faults  # a fault still under way finishes (its restart included)
            progress.cancel()
            log(f"load done in {load_seconds:.0f}s; waiting for expiries and the views")
            latest = max(
                (c.valid_until for c in load.credentials.values() if c.valid_until),
                default=None,
            )
            if latest is not None:
                wait = (latest - datetime.now(UTC)).total_seconds() + 5
                if wait > 0:
                    await asyncio.sleep(wait)
            topic = f"faults-{namespace}.credreg.credentials"

            async def log_settled() -> tuple[bool, list[dict[str, Any]]]:
                records = await read_log(infra.kafka, topic)
                verdict, _ = check_log(load, records, datetime.now(UTC))
                return (verdict.figures["expired_missing"] == 0, records)

            _, records = await eventually(log_settled, args.settle, every=5.0)
            log_verdict, by_credential = check_log(load, records, datetime.now(UTC))
            log(f"log: {len(records)} records; checking the registry, status lists, notices")
            views = await check_views(load, by_credential, args.settle)
            bits = await check_status_lists(load, by_credential, args.settle)
            notices = await check_notices(
                load, wallet, subscriptions, records, log_verdict.maxima, args.settle
            )
    finally:
        await asyncio.to_thread(cluster.stop_all)
        wallet.stop()
        shutil.rmtree(REPO / ".local" / "faults-code" / namespace, ignore_errors=True)
    problems = log_verdict.problems + views.problems + bits.problems + notices.problems
    steps = Counter(s.action + ":" + s.outcome for c in load.credentials.values() for s in c.steps)
    return {
        "arguments": vars(args),
        "namespace": namespace,
        "load_seconds": round(load_seconds, 1),
        "planned_events": load.planned,
        "scenarios": dict(Counter(c.scenario for c in load.credentials.values())),
        "requests": dict(steps),
        "acknowledged_by_action": dict(load.acked),
        "faults": [vars(f) for f in injector.done],
        "log": log_verdict.figures,
        "registry": views.figures,
        "status_lists": bits.figures,
        "notices": notices.figures,
        "unexpected_answers": load.unexpected[:50],
        "unexpected_answer_count": len(load.unexpected),
        "problems": problems[:200],
        "problem_count": len(problems),
    }


async def _progress(load: Load, events: int) -> None:
    while True:
        await asyncio.sleep(15)
        log(
            f"progress: {load.planned}/{events} planned, {sum(load.acked.values())} acked,"
            f" {len(load.credentials)} credentials, outcomes {dict(load.outcomes)}"
        )


def failed(result: dict[str, Any]) -> list[str]:
    """The invariants the run broke (empty: all hold)."""
    why = []
    figures = result["log"]
    for key in (
        "lost",
        "duplicated",
        "out_of_order",
        "final_status_not_as_acknowledged",
        "expired_missing",
    ):
        if figures[key]:
            why.append(f"{key} {figures[key]}")
    if result["registry"]["invisible"] or result["registry"]["wrong_status"]:
        why.append("registry view")
    if result["status_lists"]["bits_wrong"]:
        why.append("status-list bits")
    if result["notices"]["duplicate"] or result["notices"]["neither_delivered_nor_dead"]:
        why.append("notices")
    return why


def table(result: dict[str, Any]) -> str:
    lg, rg, sl, nt = result["log"], result["registry"], result["status_lists"], result["notices"]
    rows = [
        (
            "records on the log (distinct events)",
            f"{lg['log_records']} ({sum(lg['log_by_type'].values())})",
        ),
        ("  by type", ", ".join(f"{k} {v}" for k, v in sorted(lg["log_by_type"].items()))),
        ("acknowledged effects (2xx)", lg["acknowledged_effects"]),
        ("credentials", rg["credentials"]),
        ("visible in the registry", rg["visible"]),
        ("registry: wrong final status", rg["wrong_status"]),
        ("lost (acknowledged, not on the log)", lg["lost"]),
        ("duplicated (a change twice, distinct event ids)", lg["duplicated"]),
        ("same event id again on the log (deduped)", lg["same_event_id_twice"]),
        ("out of order (per credential)", lg["out_of_order"]),
        ("final status not as acknowledged", lg["final_status_not_as_acknowledged"]),
        ("expired notices missing", lg["expired_missing"]),
        ("status-list bits checked / wrong", f"{sl['bits_checked']} / {sl['bits_wrong']}"),
        ("notices expected", nt["expected"]),
        ("notices delivered", nt["delivered"]),
        ("notices duplicate (after dedupe by webhook-id)", nt["duplicate"]),
        ("  of which one change told more than once", nt["one_change_told_more_than_once"]),
        ("notices received again, same webhook-id", nt["redelivered_same_webhook_id"]),
        ("notices dead (deliveries API)", nt["dead"]),
        ("notices neither delivered nor dead", nt["neither_delivered_nor_dead"]),
        ("requests never acknowledged (gave up)", result["requests_gave_up"]),
        ("faults injected", len(result["faults"])),
        ("load time", f"{result['load_seconds']} s"),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="lifecycle events to plan")
    parser.add_argument("--short", action="store_true", help="shortened down-times")
    parser.add_argument("--rounds", type=int, default=1, help="times the fault cycle runs")
    parser.add_argument("--concurrency", type=int, default=24, help="scenarios in flight")
    parser.add_argument("--holders", type=int, default=0, help="holders (0: events / 250)")
    parser.add_argument("--down", type=float, default=None, help="seconds down")
    parser.add_argument("--webhook-down", type=float, default=None, help="wallet down, s")
    parser.add_argument("--replica-down", type=float, default=None)
    parser.add_argument("--webhook-attempts", type=int, default=15)
    parser.add_argument("--patience", type=float, default=300.0, help="per request, seconds")
    parser.add_argument("--settle", type=float, default=300.0, help="per check, seconds")
    parser.add_argument("--expiry-min", type=int, default=20)
    parser.add_argument("--expiry-max", type=int, default=45)
    parser.add_argument("--seed", type=int, default=15)
    # Unset: a free port below the kernel's ephemeral range (service_processes.free_port).
    parser.add_argument("--kafka-port", type=int, default=None)
    parser.add_argument("--controller-port", type=int, default=None)
    parser.add_argument("--mongo-port", type=int, default=None)
    parser.add_argument("--infra-dir", type=Path, default=REPO / ".local" / "faults-infra")
    parser.add_argument("--keep-infra", action="store_true", help="leave the infra up")
    parser.add_argument("--out", type=Path, default=RUNS)
    parser.add_argument(
        "--code-from-git",
        metavar="REV",
        default=os.environ.get("CREDREG_FAULTS_CODE_FROM_GIT") or None,
        help="run the services as committed at REV (git archive), not the working tree",
    )
    args = parser.parse_args(argv)
    if args.down is None:
        args.down = 5.0 if args.short else 15.0
    if args.webhook_down is None:
        args.webhook_down = 15.0 if args.short else 60.0
    if args.replica_down is None:
        args.replica_down = 10.0 if args.short else 30.0
    if not args.holders:
        args.holders = max(10, args.events // 250)
    for port in ("kafka_port", "controller_port", "mongo_port"):
        if getattr(args, port) is None:
            setattr(args, port, free_port())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    infra = Infra(args.infra_dir.resolve(), args.kafka_port, args.controller_port, args.mongo_port)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    log_dir = REPO / ".local" / "faults-logs" / stamp
    log(f"infra in {infra.state} (Kafka {infra.kafka}, Mongo {infra.mongo})")
    started = time.monotonic()
    try:
        infra.up()
        result = asyncio.run(drive(args, infra, log_dir))
    except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001 - reported, then stopped
        log(f"could not run: {error!r}")
        return 2
    finally:
        if not args.keep_infra:
            with contextlib.suppress(Exception):
                infra.down()
    result["requests_gave_up"] = sum(
        n for k, n in result["requests"].items() if k.endswith("gave-up")
    )
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["logs"] = str(log_dir)
    broken = failed(result)
    result["failed"] = broken
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"faults-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(table(result))
    for problem in result["problems"][:30]:
        print(f"  ! {problem}")
    print(f"JSON: {path}")
    if broken:
        log(f"FAILED: {', '.join(broken)}")
        return 1
    log("every invariant held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
