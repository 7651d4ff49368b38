"""Benchmark: 1,000 holders' live streams open on one notifier process, its memory and latency.

Run from the repo root with the local infrastructure up (`deploy/local/infra.py up`), e.g.
`KAFKA_BOOTSTRAP_SERVERS=… MONGODB_URI=… scripts/uv.sh run --frozen python
bench/streams/bench_streams.py [--streams 1000 --events 3]`:

1. a notifier process (`python -m credreg_notifier`, its own database, topic namespace and
   consumer group) on a free loopback port;
2. `--streams` SSE connections over real sockets (`GET /v1/holders/{holder}/events`, one
   holder each, with its holder token), all open before anything is published;
3. `--events` `credential.revoked` events per holder published to the notifier's topic; every
   stream must receive each of its events once (a missing or repeated one fails the run);
4. the notifier's resident memory (VmRSS, Linux) sampled every 0.2 s: before the streams, with
   them idle, and at its peak while the events flow; the latency from publish to receipt.

Target (issue #12): notifier memory below 200 MB with 1,000 open streams. Prints a table and
writes JSON to bench/streams/runs/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.events import samples
from credreg_shared.events.topics import CREDENTIALS_TOPIC
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.messaging.topics_admin import ensure_topics
from credreg_shared.testing import delete_topics

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs"
sys.path.insert(0, str(HERE.parent.parent / "deploy" / "local"))
from service_processes import free_port  # noqa: E402

PARTITIONS = 3
TARGET_MB = 200.0


def log(message: str) -> None:
    print(f"[bench-streams] {message}", flush=True)


def rss_mb(pid: int) -> float:
    """The process's resident memory in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Stream:
    """One open stream: what it received (credential id → receipt time) and any repeat."""

    holder: str
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    received: dict[str, float] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)
    repeats: int = 0


async def follow(client: httpx.AsyncClient, stream: Stream, token: str) -> None:
    """Read one SSE stream until cancelled, recording each event's credential id."""
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("GET", f"/v1/holders/{stream.holder}/events", headers=headers) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{stream.holder}: {r.status_code} {await r.aread()!r}")
        stream.opened.set()
        async for line in r.aiter_lines():
            if line.startswith("id:"):
                stream.ids.append(int(line[3:]))
            elif line.startswith("data:"):
                credential = json.loads(line[5:])["data"]["credential_id"]
                if credential in stream.received:
                    stream.repeats += 1
                stream.received[credential] = time.perf_counter()


@contextlib.asynccontextmanager
async def notifier(env: dict[str, str], port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """The notifier process, ready; stopped with SIGTERM at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "credreg_notifier", env={**os.environ, **env}
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get("/readyz")).status_code == 200:
                        break
                if process.returncode is not None:
                    raise RuntimeError("the notifier exited")
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the notifier never got ready")
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def sample_rss(pid: int, peak: list[float]) -> None:
    while True:
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongodb_uri = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/")
    run_id = uuid.uuid4().hex[:8]
    namespace, database = f"bench-streams-{run_id}.", f"bench_streams_{run_id}"
    topic = f"{namespace}{CREDENTIALS_TOPIC}"
    key = Ed25519KeyPair.generate()
    port = free_port()
    env = {
        "CREDREG_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CREDREG_MONGODB_URI": mongodb_uri,
        "CREDREG_MONGODB_DATABASE": database,
        "CREDREG_TOPIC_NAMESPACE": namespace,
        "CREDREG_HTTP_PORT": str(port),
        "CREDREG_HOLDER_TOKEN_KEY": key.secret_multikey,
        "CREDREG_LOG_LEVEL": "WARNING",
        "CREDREG_STREAM_POLL_SECONDS": str(args.poll),
    }
    await ensure_topics(bootstrap, {topic: PARTITIONS})
    minter = HolderTokenMinter(key)
    streams = [Stream(f"did:example:bench-{run_id}-{n}") for n in range(args.streams)]
    tokens = [minter.mint(s.holder, authenticated_by="did")[0] for s in streams]
    try:
        async with notifier(env, port) as process:
            return await measure(args, process.pid, port, topic, bootstrap, streams, tokens)
    finally:
        await delete_topics(bootstrap, [topic])
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
        await client.drop_database(database)
        await client.close()


async def measure(
    args: argparse.Namespace,
    pid: int,
    port: int,
    topic: str,
    bootstrap: str,
    streams: list[Stream],
    tokens: list[str],
) -> dict[str, Any]:
    """Open the streams, publish, wait for every event; memory and latencies."""
    before = rss_mb(pid)
    peak = [before]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(30.0, read=None)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=timeout
    ) as client:
        sampler = asyncio.create_task(sample_rss(pid, peak))
        readers = [
            asyncio.create_task(follow(client, s, t)) for s, t in zip(streams, tokens, strict=True)
        ]
        started = time.perf_counter()
        async with asyncio.timeout(120):
            await asyncio.gather(*(s.opened.wait() for s in streams))
        opened_seconds = time.perf_counter() - started
        await asyncio.sleep(2)  # settle
        idle = rss_mb(pid)
        log(f"{len(streams)} streams open in {opened_seconds:.1f} s; RSS {idle:.1f} MB")
        published: dict[str, float] = {}
        async with KafkaPublisher(bootstrap, client_id="bench-streams") as publisher:
            started = time.perf_counter()
            for _ in range(args.events):
                for stream in streams:
                    data = samples.credential_revoked(holder_id=stream.holder)
                    published[data.credential_id] = time.perf_counter()
                    await publisher.publish(samples.sample_envelope(data), topic=topic)
        publish_seconds = time.perf_counter() - started
        expected = args.events
        async with asyncio.timeout(args.patience):
            while any(len(s.received) < expected for s in streams):
                for reader in readers:
                    if reader.done() and reader.exception():
                        raise RuntimeError("a stream failed") from reader.exception()
                await asyncio.sleep(0.2)
        delivered_seconds = time.perf_counter() - started
        await asyncio.sleep(1)  # a repeat would show up now
        for reader in [*readers, sampler]:
            reader.cancel()
        await asyncio.gather(*readers, sampler, return_exceptions=True)
    latencies = sorted(
        seen - published[credential] for s in streams for credential, seen in s.received.items()
    )
    in_order = all(s.ids == sorted(s.ids) and len(set(s.ids)) == len(s.ids) for s in streams)
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "streams": len(streams),
        "poll_seconds": args.poll,
        "events_per_stream": expected,
        "events": len(published),
        "received": sum(len(s.received) for s in streams),
        "repeats": sum(s.repeats for s in streams),
        "ids_in_order_once": in_order,
        "open_seconds": round(opened_seconds, 2),
        "publish_seconds": round(publish_seconds, 2),
        "all_received_seconds": round(delivered_seconds, 2),
        "latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "rss_mb_before_streams": round(before, 1),
        "rss_mb_streams_idle": round(idle, 1),
        "rss_mb_peak": round(peak[0], 1),
        "target_mb": TARGET_MB,
        "within_target": peak[0] < TARGET_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=3, help="events per holder")
    parser.add_argument("--poll", type=float, default=0.5, help="CREDREG_STREAM_POLL_SECONDS")
    parser.add_argument("--patience", type=float, default=300.0, help="seconds to wait for all")
    result = asyncio.run(run(parser.parse_args()))
    for name, value in result.items():
        print(f"{name:>24}  {value}")
    RUNS.mkdir(exist_ok=True)
    out = RUNS / f"streams-{result['at'].replace(':', '')[:17]}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"written {out.relative_to(HERE.parent.parent)}")
    if result["repeats"] or result["received"] != result["events"]:
        raise SystemExit("some events were lost or repeated")


if __name__ == "__main__":
    main()
