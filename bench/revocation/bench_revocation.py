"""Benchmark: a revocation request → the issuer's status list served with the bit set.

Run: `make bench-revocation` (or scripts/bench-revocation.sh [flags]). Starts the issuer and the
revocation service as processes on the local infra with a fresh namespace and databases,
creates an institution through the admin API, issues `--credentials` credentials, then posts
`--revocations` revocations at `--rate` per second. A watcher fetches the status list every
`--poll-ms` (with If-None-Match) and records when each revoked bit first shows. Latency = that
moment − the moment the revocation was posted (so it includes up to one poll interval).

Raw baseline in the same run: one aiokafka record produced (acks=all) and seen by a consumer,
at the same rate, which is the floor of revocation → event → issuer consumer. Prints a table and
writes bench/results/revocation-<timestamp>.json. Numbers only: it does not pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from credreg_shared.credentials.bitstring import Bitstring
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "deploy" / "local"))
sys.path.insert(0, str(REPO / "bench"))
from baseline import latency_summary, raw_kafka_latency  # noqa: E402
from service_processes import ServiceProcess  # noqa: E402

RESULTS = REPO / "bench" / "results"
ADMIN_KEY = "bench-admin-key"
API_KEY = "bench-registrar-key"


def log(message: str) -> None:
    print(f"[bench-revocation] {message}", flush=True)


async def measure(args: argparse.Namespace, issuer: ServiceProcess, revocation: ServiceProcess):
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(timeout=30) as client:
        made = await client.post(
            f"{issuer.url}/v1/institutions",
            json={"slug": "bench-uni", "name": "Bench University"},
            headers=admin,
        )
        made.raise_for_status()
        did = made.json()["id"]
        log(f"institution {did}; issuing {args.credentials:,} credentials")
        registrar = {"Authorization": f"Bearer {API_KEY}"}
        body = {
            "holder_id": "did:example:bench-learner",
            "achievement": {"name": "Bench", "competencies": [{"name": "Latency"}]},
        }
        semaphore = asyncio.Semaphore(16)

        async def issue(n: int) -> dict[str, Any]:
            async with semaphore:
                answer = await client.post(
                    f"{issuer.url}/v1/credentials", json=body, headers=registrar
                )
                answer.raise_for_status()
                credential: dict[str, Any] = answer.json()["credential"]
                return credential

        started = time.perf_counter()
        credentials = await asyncio.gather(*(issue(n) for n in range(args.credentials)))
        issued_per_second = args.credentials / (time.perf_counter() - started)
        list_url = credentials[0]["credentialStatus"]["statusListCredential"]
        list_path = "/" + list_url.split("/", 3)[3]
        # The revocation service learns each credential's issuer from the log.
        await asyncio.sleep(2)
        targets = credentials[: args.revocations]
        posted: dict[int, float] = {}
        seen: dict[int, float] = {}
        polls = 0
        stop, all_seen = asyncio.Event(), asyncio.Event()
        expected = [len(targets)]  # lowered once refusals are known

        async def watch() -> None:
            nonlocal polls
            etag = None
            while not stop.is_set():
                headers = {"If-None-Match": etag} if etag else {}
                answer = await client.get(f"{issuer.url}{list_path}", headers=headers)
                now = time.perf_counter()
                polls += 1
                if answer.status_code == 200:
                    etag = answer.headers.get("etag")
                    bits = Bitstring.decode(answer.json()["credentialSubject"]["encodedList"])
                    for index in list(posted):
                        if index not in seen and bits.get(index):
                            seen[index] = now
                if len(seen) >= expected[0]:
                    all_seen.set()
                await asyncio.sleep(args.poll_ms / 1000)

        watcher = asyncio.create_task(watch())
        log(f"revoking {len(targets):,} at {args.rate}/s; polling the list every {args.poll_ms} ms")
        refused = 0
        for credential in targets:
            index = int(credential["credentialStatus"]["statusListIndex"])
            posted[index] = time.perf_counter()
            answer = await client.post(
                f"{revocation.url}/v1/credentials/{credential['id']}/revocation",
                json={"reason": "benchmark"},
                headers=registrar,
            )
            refused += answer.status_code != 202
            await asyncio.sleep(1 / args.rate)
        expected[0] = len(posted) - refused
        try:
            await asyncio.wait_for(all_seen.wait(), timeout=60)
        except TimeoutError:
            log("some revoked bits never showed within 60 s")
        stop.set()
        await watcher
    latencies = [(seen[i] - posted[i]) * 1000 for i in seen]
    return {
        "issued_per_second": round(issued_per_second),
        "revocations": len(targets),
        "refused": refused,
        "never_seen": len(posted) - len(seen) - refused,
        "list_polls": polls,
        "revocation_to_served_bit": latency_summary(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--credentials", type=int, default=2_000)
    parser.add_argument("--revocations", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="revocations per second")
    parser.add_argument("--poll-ms", type=int, default=20)
    args = parser.parse_args()
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    namespace = f"benchrev{uuid.uuid4().hex[:8]}"
    work = REPO / ".local" / "bench-revocation" / namespace
    env = {
        "CREDREG_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CREDREG_MONGODB_URI": os.environ["MONGODB_URI"],
        "CREDREG_TOPIC_NAMESPACE": f"{namespace}.",
        "CREDREG_ADMIN_API_KEY": ADMIN_KEY,
        "CREDREG_KEY_ENCRYPTION_KEY": f"bench:{KeyEncryptionKeyring.generate_kek()}",
        "CREDREG_DID_WEB_HOST": "localhost:18101",
        "CREDREG_STATUS_LIST_BASE_URL": "http://localhost:18101",
        "CREDREG_API_KEYS": json.dumps(
            {API_KEY: "did:web:localhost%3A18101:institutions:bench-uni"}
        ),
        "CREDREG_LOG_LEVEL": "WARNING",
    }
    issuer = ServiceProcess(
        "issuer",
        18101,
        {**env, "CREDREG_MONGODB_DATABASE": f"{namespace}_issuer"},
        work / "issuer.log",
    )
    revocation = ServiceProcess(
        "revocation",
        18103,
        {**env, "CREDREG_MONGODB_DATABASE": f"{namespace}_revocation"},
        work / "revocation.log",
    )
    result: dict[str, Any] = {
        "benchmark": "revocation",
        "started": datetime.now(UTC).isoformat(),
        "parameters": vars(args),
    }
    log(f"raw baseline: aiokafka produce (acks=all) → consume, {args.revocations} at {args.rate}/s")
    raw = asyncio.run(raw_kafka_latency(bootstrap, args.revocations, args.rate))
    result["raw_kafka_produce_to_consume"] = latency_summary(raw)
    try:
        for service in (issuer, revocation):
            service.start()
        for service in (issuer, revocation):
            service.wait_ready()
        result.update(asyncio.run(measure(args, issuer, revocation)))
    finally:
        for service in (issuer, revocation):
            service.stop()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"revocation-{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    served = result["revocation_to_served_bit"] or {}
    print()
    print(f"{'figure':46} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, row in [
        ("revocation POST → status list with the bit", served),
        ("raw: Kafka produce (acks=all) → consumed", result["raw_kafka_produce_to_consume"]),
    ]:
        print(
            f"{label:46} {row.get('p50_ms', '-'):>8} {row.get('p90_ms', '-'):>8} "
            f"{row.get('p99_ms', '-'):>8} {row.get('max_ms', '-'):>8}"
        )
    print(
        f"revocations {result['revocations']}, refused {result['refused']}, never seen "
        f"{result['never_seen']}, list polls {result['list_polls']} (every {args.poll_ms} ms: "
        f"latencies include up to one interval); issuance {result['issued_per_second']}/s"
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
