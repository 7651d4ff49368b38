"""Benchmark: 100,000 credentials falling due in one minute, announced each once.

Run: `make bench-expiry` (or scripts/bench-expiry.sh [flags]). In one process, over the local
Kafka and MongoDB-wire server, with the revocation service's own adapters and use cases and a
clock the benchmark moves (the product's time is injectable):

1. schedule: `--credentials` `credential.issued` events go through the revocation service's
   projection (`OwnershipProjection` with `ExpiryScheduling`), `--concurrency` at a time; their
   `validUntil` lie in one window of `--window` seconds, 31 days ahead, so that their 30-day
   "expiring" notices fall due in one window too;
2. expiring: the clock moves past the first window; `--replicas` schedulers (each its own
   holder, as two replicas would be) run until every notice is published;
3. expired: the same past the second window (each notice also moves a status to expired);
4. check: the topic is read back; every credential must have exactly one notice of each kind.

Raw baseline in the same run: aiokafka produce → consume and PyMongo bulk upserts of the same
number of ~2 KB records (bench/baseline.py). Prints a table, writes JSON to bench/expiry/runs/.
Numbers only: it does not pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from credreg_revocation.adapters.mongo import MongoCredentialRepository
from credreg_revocation.adapters.mongo_expiry import MongoExpiryPolicies, MongoExpirySchedule
from credreg_revocation.projection import OwnershipProjection
from credreg_revocation.scheduling import ExpiryScheduler, ExpiryScheduling, LeadTimes
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.messaging.topics_admin import ensure_topics
from credreg_shared.testing import read_log

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from baseline import kafka_round, machine, mongo_round  # noqa: E402

RUNS = HERE / "runs"
PARTITIONS = 3


def log(message: str) -> None:
    print(f"[bench-expiry] {message}", flush=True)


class Clock:
    """The time every use case reads; the benchmark moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class CountingPublisher:
    """The real Kafka publisher, counting what the broker acknowledged."""

    def __init__(self, inner: KafkaPublisher) -> None:
        self.inner = inner
        self.count = 0
        self.done = asyncio.Event()
        self.target = 0

    async def publish(self, envelope: Envelope, *, topic: str | None = None) -> None:
        await self.publish_many([envelope], topic=topic)

    async def publish_many(
        self, envelopes: Sequence[Envelope], *, topic: str | None = None
    ) -> None:
        await self.inner.publish_many(envelopes, topic=topic)
        self.count += len(envelopes)
        if self.count >= self.target:
            self.done.set()

    def expect(self, more: int) -> None:
        self.target = self.count + more
        self.done.clear()


async def schedule_all(
    projection: OwnershipProjection, ids: list[str], valid_until: list[datetime], concurrency: int
) -> float:
    """Feed every credential.issued through the projection; seconds taken."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(len(ids)):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            data = samples.credential_issued(ids[n]).model_copy(
                update={"valid_until": valid_until[n]}
            )
            await projection.on_issued(new_envelope(data, source="urn:bench:issuer"))
            if n and n % 10_000 == 0:
                log(f"  scheduled {n:,}")

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return time.perf_counter() - started


async def announce(
    schedulers: list[ExpiryScheduler], publisher: CountingPublisher, expected: int
) -> float:
    """Run the replicas until `expected` notices are acknowledged; seconds taken."""
    publisher.expect(expected)
    started = time.perf_counter()
    tasks = [asyncio.create_task(s.run()) for s in schedulers]
    try:
        await publisher.done.wait()
        return time.perf_counter() - started
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        await asyncio.gather(*tasks)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    uri = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/")
    count = args.credentials
    tag = uuid.uuid4().hex[:8]
    topic = f"bench-expiry-{tag}.credreg.credentials"
    await ensure_topics(bootstrap, {topic: PARTITIONS})
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client[f"bench_expiry_{tag}"]
    t0 = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(t0)
    credentials = MongoCredentialRepository(db)
    schedule = MongoExpirySchedule(db)
    policies = MongoExpiryPolicies(db)
    leads = LeadTimes(policies)
    projection = OwnershipProjection(
        credentials, ExpiryScheduling(schedule=schedule, leads=leads, clock=clock)
    )
    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(count)]
    expiry_start = t0 + timedelta(days=31)
    valid_until = [expiry_start + timedelta(seconds=args.window * n / count) for n in range(count)]
    result: dict[str, Any] = {
        "benchmark": "expiry",
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "credentials": count,
        "window_seconds": args.window,
        "replicas": args.replicas,
        "concurrency": args.concurrency,
        "page": args.page,
    }
    try:
        log(f"schedule: {count:,} credential.issued through the projection")
        seconds = await schedule_all(projection, ids, valid_until, args.concurrency)
        result["schedule"] = {"seconds": round(seconds, 1), "per_second": round(count / seconds)}
        log(f"  {count / seconds:,.0f} credentials/s")
        async with KafkaPublisher(bootstrap) as kafka:
            publisher = CountingPublisher(kafka)

            def replicas() -> list[ExpiryScheduler]:
                """The replicas of one phase (a stopped scheduler does not run again)."""
                return [
                    ExpiryScheduler(
                        schedule=schedule,
                        credentials=credentials,
                        policies=policies,
                        publisher=publisher,
                        topic=topic,
                        source="urn:bench:revocation",
                        leads=leads,
                        poll=0.2,
                        page=args.page,
                        clock=clock,
                        holder=f"replica-{n}",
                    )
                    for n in range(args.replicas)
                ]

            # Past the catch-up from t0 (one bucket) so both phases time only the window.
            clock.now = t0 + timedelta(seconds=20)
            for scheduler in replicas():
                await scheduler.run_once()
            for phase, moment in (
                ("expiring", expiry_start - timedelta(days=30)),
                ("expired", expiry_start),
            ):
                clock.now = moment + timedelta(seconds=args.window + 20)
                log(f"{phase}: {count:,} notices due within {args.window} s")
                seconds = await announce(replicas(), publisher, count)
                result[phase] = {"seconds": round(seconds, 1), "per_second": round(count / seconds)}
                log(f"  {count / seconds:,.0f} notices/s")
        log("check: reading the topic back")
        found = Counter(
            (envelope.type, envelope.subject)
            for _, envelope in await read_log(bootstrap, topic, PARTITIONS)
        )
        kinds = (models.CredentialExpiring.event_type, models.CredentialExpired.event_type)
        result["check"] = {
            kind.rsplit(".", 2)[-2]: {
                "announced_once": sum(1 for i in ids if found[(kind, i)] == 1),
                "missing": sum(1 for i in ids if found[(kind, i)] == 0),
                "duplicated": sum(1 for i in ids if found[(kind, i)] > 1),
            }
            for kind in kinds
        }
        log("raw baseline: aiokafka produce → consume, PyMongo bulk upserts")
        raw = await kafka_round(bootstrap, count) + await mongo_round(uri, count)
        result["raw"] = {p.name: {"per_second": round(p.per_second)} for p in raw}
    finally:
        await client.drop_database(db.name)
        await client.close()
    return result


def print_table(result: dict[str, Any]) -> None:
    print()
    print(f"{result['credentials']:,} credentials due within {result['window_seconds']} s, "
          f"{result['replicas']} scheduler replicas")  # fmt: skip
    rows = [
        ("schedule (projection of credential.issued)", result["schedule"]["per_second"]),
        ("expiring notices announced", result["expiring"]["per_second"]),
        ("expired notices announced (+ status)", result["expired"]["per_second"]),
        *[(f"raw {name}", value["per_second"]) for name, value in result["raw"].items()],
    ]
    for name, per_second in rows:
        print(f"  {name:<45} {per_second:>10,}/s")
    for kind, check in result["check"].items():
        print(f"  {kind:<45} once {check['announced_once']:,}, missing {check['missing']:,}, "
              f"duplicated {check['duplicated']:,}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--credentials", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=60, help="seconds the due times span")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print_table(result)
    RUNS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    path = RUNS / f"expiry-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {path.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
