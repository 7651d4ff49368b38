"""Benchmark: Data Integrity sign/verify per second per cryptosuite, status list encode/decode.

Run: `uv run python bench/bench_crypto.py [--seconds 3]`. Pins itself to one CPU core, prints a
table and writes `bench/results/crypto-<timestamp>.json`. Numbers only, no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from credreg_shared.credentials import rdf_fast
from credreg_shared.credentials.bitstring import MIN_STATUS_LIST_LENGTH, Bitstring
from credreg_shared.credentials.canonicalization import canonicalize_rdf_reference
from credreg_shared.credentials.data_integrity import add_proof, verify_proofs
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.samples import sample_micro_credential
from credreg_shared.credentials.status_list import status_list_entry

RESULTS = Path(__file__).parent / "results"
TARGETS = {"eddsa-rdfc-2022": (700, 700), "eddsa-jcs-2022": (5000, None)}


def representative_credential(serial: int) -> dict[str, Any]:
    """A micro-credential with five competencies, status entry and extension metadata."""
    credential = sample_micro_credential(
        credential_id=f"urn:uuid:00000000-0000-4000-8000-{serial:012d}",
        holder=f"did:example:learner-{serial}",
        credential_status=[
            status_list_entry(
                status_list_credential="https://registrar.example.edu/status/1",
                index=serial,
                purpose="revocation",
            )
        ],
    )
    return credential.to_document()


def rate(operation: Callable[[int], object], seconds: float) -> tuple[float, int]:
    """Run `operation(i)` repeatedly for about `seconds`; return (operations/s, count)."""
    operation(0)  # warm caches
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        operation(count)
        count += 1
    return count / elapsed, count


def timed(operation: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time in milliseconds over `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    key = Ed25519KeyPair.generate()
    method = f"did:key:{key.public_multikey}#{key.public_multikey}"
    documents = [representative_credential(i) for i in range(256)]
    rows: list[dict[str, Any]] = []
    for suite, (sign_target, verify_target) in TARGETS.items():

        def sign(i: int, suite: str = suite) -> object:
            return add_proof(
                documents[i % 256], key_pair=key, verification_method=method, cryptosuite=suite
            )

        signed: list[dict[str, Any]] = [
            add_proof(documents[i], key_pair=key, verification_method=method, cryptosuite=suite)
            for i in range(256)
        ]

        def verify(i: int, signed: list[dict[str, Any]] = signed) -> object:
            result = verify_proofs(signed[i % 256])
            assert result[0].verified
            return result

        for operation, function, target in (
            ("sign", sign, sign_target),
            ("verify", verify, verify_target),
        ):
            per_second, count = rate(function, args.seconds)
            rows.append(
                {
                    "benchmark": f"{suite} {operation}",
                    "per_second": round(per_second, 1),
                    "operations": count,
                    "target_per_second": target,
                }
            )

    for engine, canonicalize in (
        ("fast path", rdf_fast.canonicalize),
        ("pyld reference", canonicalize_rdf_reference),
    ):
        rows.append(
            {
                "benchmark": f"RDFC-1.0 of the credential, {engine}",
                "milliseconds": round(timed(lambda c=canonicalize: c(documents[0]), 50), 3),
            }
        )

    bits = Bitstring()
    for index in random.Random(1).sample(
        range(MIN_STATUS_LIST_LENGTH), MIN_STATUS_LIST_LENGTH // 100
    ):
        bits.set(index, True)
    encoded = bits.encode()
    rows.append(
        {
            "benchmark": "status list encode 131072 bits, 1% set",
            "milliseconds": round(timed(bits.encode), 3),
            "encoded_chars": len(encoded),
        }
    )
    rows.append(
        {
            "benchmark": "status list decode 131072 bits, 1% set",
            "milliseconds": round(timed(lambda: Bitstring.decode(encoded)), 3),
        }
    )

    print(f"{'benchmark':45} {'result':>16} {'target':>10}")
    for row in rows:
        if "per_second" in row:
            result, target = f"{row['per_second']:,.0f}/s", row["target_per_second"]
            print(f"{row['benchmark']:45} {result:>16} {f'{target:,}/s' if target else '-':>10}")
        else:
            print(f"{row['benchmark']:45} {row['milliseconds']:>13.2f} ms {'-':>10}")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"crypto-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "when": stamp,
                "python": platform.python_version(),
                "machine": platform.processor() or platform.machine(),
                "cores_used": 1,
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
