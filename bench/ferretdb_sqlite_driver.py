"""Server CPU per operation of a MongoDB-wire server (local FerretDB's SQLite driver, A/B).

    scripts/uv.sh run --frozen python bench/ferretdb_sqlite_driver.py PORT SERVER_PID

Against a server already listening on PORT (its pid given to read its CPU time from /proc):
inserts 60,000 documents of ~1 KB in unordered bulks of 500, updates 30,000 of them by `_id`
in random order (bulks of 500), then reads 2,000 runs of 20 by `_id: {$in}`; prints each rate
and the server's CPU seconds, then drops the database. Run it once against each build (the C
SQLite through cgo, and modernc.org/sqlite) on a fresh data folder: a probe for the eighth
build-time fix in `deploy/local/infra.py`, not a pass/fail test.
"""

from __future__ import annotations

import os
import random
import sys
import time

from pymongo import MongoClient, UpdateOne

DOCUMENTS = 60_000
UPDATES = 30_000
READS = 2_000
BULK = 500


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(port: int, pid: int) -> None:
    """Insert, update, read; print rates and server CPU."""
    client: MongoClient[dict[str, object]] = MongoClient(f"mongodb://127.0.0.1:{port}/")
    collection = client["driver_probe"]["documents"]
    collection.drop()
    body = "x" * 900
    ids = [f"id-{n:08d}" for n in range(DOCUMENTS)]
    results: dict[str, tuple[float, float]] = {}

    started, cpu = time.perf_counter(), server_cpu(pid)
    for start in range(0, DOCUMENTS, BULK):
        collection.insert_many(
            [
                {"_id": ids[n], "holder": f"h{n % 20_000}", "n": n, "body": body, "sub": {"a": n}}
                for n in range(start, start + BULK)
            ],
            ordered=False,
        )
    results["insert"] = (DOCUMENTS / (time.perf_counter() - started), server_cpu(pid) - cpu)

    random.Random(1).shuffle(ids)
    started, cpu = time.perf_counter(), server_cpu(pid)
    for start in range(0, UPDATES, BULK):
        collection.bulk_write(
            [
                UpdateOne({"_id": i}, {"$set": {"status": "revoked"}, "$inc": {"n": 1}})
                for i in ids[start : start + BULK]
            ],
            ordered=False,
        )
    results["update by _id"] = (UPDATES / (time.perf_counter() - started), server_cpu(pid) - cpu)

    started, cpu = time.perf_counter(), server_cpu(pid)
    for n in range(READS):
        found = list(collection.find({"_id": {"$in": ids[n * 20 : n * 20 + 20]}}))
        if len(found) != 20:
            raise SystemExit(f"read {n}: {len(found)} of 20 documents")
    results["20 by $in"] = (READS / (time.perf_counter() - started), server_cpu(pid) - cpu)

    for name, (rate, seconds) in results.items():
        print(f"{name:14s} {rate:9,.0f}/s   server CPU {seconds:5.1f} s")
    client.drop_database("driver_probe")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
