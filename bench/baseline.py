"""Raw-stack baseline: aiokafka produce → consume and PyMongo bulk upserts of ~2 KB records.

Every other credreg benchmark reports itself as a ratio to these numbers, measured in the same
run on the same machine. Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient, UpdateOne

from credreg_shared.messaging.producer import MAX_BATCH_BYTES
from credreg_shared.messaging.topics_admin import ensure_topics

RESULTS = Path(__file__).resolve().parent / "results"
RECORD_BYTES = 2048


@dataclass(frozen=True)
class Measurement:
    """One measured phase."""

    name: str
    items: int
    seconds: float
    megabytes: float

    @property
    def per_second(self) -> float:
        """Items per second."""
        return self.items / self.seconds

    @property
    def mb_per_second(self) -> float:
        """Megabytes per second."""
        return self.megabytes / self.seconds


def payload(n: int) -> bytes:
    """A ~2 KB JSON record, like a signed credential event."""
    body = {"n": n, "id": str(uuid.uuid4()), "pad": "x" * (RECORD_BYTES - 80)}
    return json.dumps(body).encode()


async def kafka_round(bootstrap: str, count: int) -> list[Measurement]:
    """Produce `count` records (idempotent, acks=all), then consume them all."""
    topic = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 3, 1)])
    records = [payload(n) for n in range(count)]
    megabytes = sum(len(r) for r in records) / 1e6

    # The product's producer settings (credreg_shared.messaging.producer), so that the raw rate
    # is what the same client could do without credreg's work around it.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=MAX_BATCH_BYTES,
    )
    await producer.start()
    started = time.perf_counter()
    futures = [
        await producer.send(topic, r, key=str(n % 1000).encode()) for n, r in enumerate(records)
    ]
    await asyncio.gather(*futures)
    produced = Measurement(
        "kafka produce (acks=all)", count, time.perf_counter() - started, megabytes
    )
    await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received = 0
    started = time.perf_counter()
    while received < count:
        batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
        received += sum(len(part) for part in batch.values())
    await consumer.commit()
    consumed = Measurement(
        "kafka consume + commit", received, time.perf_counter() - started, megabytes
    )
    await consumer.stop()
    await admin.delete_topics([topic])
    await admin.close()
    return [produced, consumed]


async def mongo_round(uri: str, count: int, batch: int = 1000) -> list[Measurement]:
    """Bulk-upsert `count` ~2 KB documents in unordered batches."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    database = f"bench_baseline_{uuid.uuid4().hex[:8]}"
    collection = client[database]["docs"]
    docs = [json.loads(payload(n)) for n in range(count)]
    megabytes = count * RECORD_BYTES / 1e6
    started = time.perf_counter()
    for start in range(0, count, batch):
        await collection.bulk_write(
            [
                UpdateOne({"_id": d["id"]}, {"$set": d}, upsert=True)
                for d in docs[start : start + batch]
            ],
            ordered=False,
        )
    upserted = Measurement("mongo bulk upsert", count, time.perf_counter() - started, megabytes)
    assert await collection.count_documents({}) == count
    await client.drop_database(database)
    await client.close()
    return [upserted]


def percentile(values: list[float], p: float) -> float:
    """The `p`-th percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_summary(values_ms: list[float]) -> dict[str, float] | None:
    """Count, p50, p90, p99 and max of latencies in ms (None when nothing was measured)."""
    if not values_ms:
        return None
    return {
        "count": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 1),
        "p90_ms": round(percentile(values_ms, 90), 1),
        "p99_ms": round(percentile(values_ms, 99), 1),
        "max_ms": round(max(values_ms), 1),
    }


async def raw_kafka_latency(bootstrap: str, count: int, rate: float) -> list[float]:
    """Produce (acks=all) → seen by a consumer, ms per record, at `rate` per second: the floor
    of any path that goes through the log."""
    topic = f"bench-raw-latency-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, {topic: 1})
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up")
    await consumer.start()
    sent: dict[bytes, float] = {}
    latencies: list[float] = []

    async def consume() -> None:
        while len(latencies) < count:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    if record.value in sent:
                        latencies.append((time.perf_counter() - sent[record.value]) * 1000)

    reader = asyncio.create_task(consume())
    try:
        for n in range(count):
            key = f"r{n}".encode()
            sent[key] = time.perf_counter()
            await producer.send(topic, key)
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(reader, timeout=60)
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
    return latencies


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def run_baseline(bootstrap: str, uri: str, count: int) -> dict[str, Any]:
    """Measure every raw-stack phase and return the JSON-ready result."""
    phases = await kafka_round(bootstrap, count) + await mongo_round(uri, count)
    return {
        "benchmark": "baseline",
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "record_bytes": RECORD_BYTES,
        "phases": [
            {
                **asdict(p),
                "per_second": round(p.per_second),
                "mb_per_second": round(p.mb_per_second, 1),
            }
            for p in phases
        ],
    }


def print_table(result: dict[str, Any]) -> None:
    """Print the phases as a plain table."""
    print(
        f"\nraw-stack baseline, {result['machine']['cores']} cores, "
        f"{result['machine']['memory_gib']} GiB, records of {RECORD_BYTES} bytes"
    )
    print(f"{'phase':28} {'items':>8} {'seconds':>8} {'items/s':>10} {'MB/s':>8}")
    for p in result["phases"]:
        print(
            f"{p['name']:28} {p['items']:>8} {p['seconds']:>8.2f} "
            f"{p['per_second']:>10} {p['mb_per_second']:>8}"
        )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    uri = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/")
    result = asyncio.run(run_baseline(bootstrap, uri, args.count))
    print_table(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "baseline.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
