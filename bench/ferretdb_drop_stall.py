"""How long reads of another database wait while a large collection is dropped (local server).

    scripts/uv.sh run --frozen python bench/ferretdb_drop_stall.py mongodb://127.0.0.1:27017/ 600000

Inserts N documents of 4 KB (an `_id` and a small second index) into `dropprobe_base.bodies`,
reads one document of `dropprobe_other` every 10 ms while the collection is dropped, prints the
drop's time and the slowest of those reads, then checks that the name and its index are usable
again at once and drops both databases. Not a pass/fail test: a probe of the local FerretDB's
drop (`deploy/local/infra.py`, the seventh build-time fix).
"""

from __future__ import annotations

import asyncio
import sys
import time

from pymongo import AsyncMongoClient


async def main(uri: str, count: int) -> None:
    """Fill, drop while reading elsewhere, report, re-create, clean up."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    big, other = client["dropprobe_base"], client["dropprobe_other"]
    await big.drop_collection("bodies")
    await other.drop_collection("x")
    await other.x.insert_one({"_id": "k", "v": 1})
    body = "x" * 4000
    for start in range(0, count, 5000):
        await big.bodies.insert_many(
            [{"_id": f"id-{i}", "n": i, "json": body} for i in range(start, start + 5000)],
            ordered=False,
        )
    await big.bodies.create_index("n")
    print(f"inserted {count:,} documents of 4 KB", flush=True)
    worst, stop = 0.0, False

    async def reader() -> None:
        nonlocal worst
        while not stop:
            started = time.perf_counter()
            await other.x.find_one({"_id": "k"})
            worst = max(worst, time.perf_counter() - started)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.5)
    worst = 0.0
    started = time.perf_counter()
    await big.drop_collection("bodies")
    dropped = time.perf_counter() - started
    await asyncio.sleep(0.2)
    stop = True
    await task
    print(
        f"drop {dropped * 1000:.0f} ms; slowest read of another database meanwhile "
        f"{worst * 1000:.0f} ms"
    )
    await big.bodies.create_index("n")
    await big.bodies.insert_many([{"_id": f"id-{i}", "n": i} for i in range(10)])
    if await big.bodies.count_documents({}) != 10:
        raise SystemExit("the re-created collection does not hold what was written to it")
    await client.drop_database("dropprobe_base")
    await client.drop_database("dropprobe_other")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000))
