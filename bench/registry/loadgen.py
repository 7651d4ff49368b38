"""The HTTP load generator, not written in Python: vegeta (built with `go install`), else hey.

vegeta reads a targets file of many different URLs and replays them at a constant rate, which
is what the registry reads need (different holders and ids per request). hey only takes one URL,
so the fallback hammers a single URL per route and says so.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(os.environ.get("CREDREG_CACHE_DIR", Path.home() / ".cache" / "credreg")) / "bin"
VEGETA_MODULE = "github.com/tsenart/vegeta/v12"
VEGETA_VERSION = "v12.12.0"
HEY_MODULE = "github.com/rakyll/hey"


def log(message: str) -> None:
    """One progress line."""
    print(f"[bench-registry] {message}", flush=True)


def _go_install(module: str, version: str) -> bool:
    go = shutil.which("go")
    if go is None:
        return False
    result = subprocess.run(
        [go, "install", f"{module}@{version}"],
        env={**os.environ, "GOBIN": str(BIN), "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        log(f"go install {module}@{version} failed: {result.stderr.strip()[-400:]}")
    return result.returncode == 0


def _module_versions(module: str) -> list[str]:
    go = shutil.which("go")
    if go is None:
        return []
    result = subprocess.run(
        [go, "list", "-m", "-versions", module],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
        env={**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"},
    )
    return result.stdout.split()[1:] if result.returncode == 0 else []


@dataclass(frozen=True)
class Tool:
    """The load generator found or built: its name, path and version."""

    name: str
    path: Path
    version: str


def ensure_tool() -> Tool:
    """vegeta from the cache, else built (v12.12.0, else the newest v12); else hey."""
    vegeta = BIN / "vegeta"
    if not vegeta.exists():
        log(f"building vegeta {VEGETA_VERSION} with go install (first run only)")
        if not _go_install(VEGETA_MODULE, VEGETA_VERSION):
            for version in reversed(_module_versions(VEGETA_MODULE)):
                if version != VEGETA_VERSION and _go_install(VEGETA_MODULE, version):
                    break
    if vegeta.exists():
        return Tool("vegeta", vegeta, _version(vegeta))
    hey = BIN / "hey"
    if not hey.exists():
        log("vegeta could not be built; building hey instead")
        _go_install(HEY_MODULE, "latest")
    if hey.exists():
        return Tool("hey", hey, "latest")
    raise RuntimeError("neither vegeta nor hey could be built: is Go installed and online?")


def _version(binary: Path) -> str:
    """The module version `go install` recorded in the binary (vegeta -version is empty then)."""
    go = shutil.which("go")
    if go is None:
        return "unknown"
    result = subprocess.run(
        [go, "version", "-m", str(binary)], capture_output=True, text=True, check=False
    )
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "mod":
            return fields[2]
    return "unknown"


@dataclass(frozen=True)
class ReadResult:
    """What one route's run measured (latencies in milliseconds)."""

    route: str
    tool: str
    requests: int
    distinct_urls: int
    rate: float
    throughput: float
    success: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    status_codes: dict[str, int]
    errors: list[str]

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def attack(
    tool: Tool,
    route: str,
    urls: list[str],
    *,
    rate: int,
    seconds: int,
    workdir: Path,
    method: str = "GET",
    body: Any = None,
) -> ReadResult:
    """Replay `urls` at `rate` requests/s for `seconds` (each with `body` as JSON, if any);
    return the report."""
    workdir.mkdir(parents=True, exist_ok=True)
    if tool.name == "hey":
        if method != "GET":
            raise RuntimeError(f"hey replays GETs only, not {method} {route}")
        return _hey(tool, route, urls[0], rate=rate, seconds=seconds)
    name = "".join(c if c.isalnum() else "-" for c in route)
    targets = workdir / f"targets-{name}.txt"
    # A target may carry header lines after its URL, then its body as `@file` (vegeta's
    # targets format).
    sent = ""
    if body is not None:
        body_file = workdir / f"body-{name}.json"
        body_file.write_text(json.dumps(body))
        sent = f"Content-Type: application/json\n@{body_file}\n"
    targets.write_text("".join(f"{method} {u}\n{sent}\n" for u in urls))
    results = workdir / f"results-{name}.bin"
    with results.open("wb") as out:
        subprocess.run(
            [
                str(tool.path),
                "attack",
                f"-targets={targets}",
                f"-rate={rate}/s",
                f"-duration={seconds}s",
                "-timeout=30s",
                "-workers=20",
                "-max-workers=200",  # a slow route then shows as achieved < target rate
            ],
            stdout=out,
            check=True,
        )
    report = json.loads(
        subprocess.run(
            [str(tool.path), "report", "-type=json", str(results)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    latencies = report["latencies"]
    return ReadResult(
        route=route,
        tool=f"vegeta {tool.version}",
        requests=int(report["requests"]),
        distinct_urls=len(set(urls)),
        rate=round(float(report["rate"]), 1),
        throughput=round(float(report["throughput"]), 1),
        success=round(float(report["success"]), 4),
        p50_ms=round(latencies["50th"] / 1e6, 2),
        p90_ms=round(latencies["90th"] / 1e6, 2),
        p99_ms=round(latencies["99th"] / 1e6, 2),
        max_ms=round(latencies["max"] / 1e6, 2),
        status_codes={str(k): int(v) for k, v in (report.get("status_codes") or {}).items()},
        errors=list(report.get("errors") or [])[:5],
    )


def _hey(tool: Tool, route: str, target: str, *, rate: int, seconds: int) -> ReadResult:
    url, *header_lines = target.split("\n")
    headers = [flag for line in header_lines for flag in ("-H", line)]
    workers = 20
    per_worker = max(1, rate // workers)
    output = subprocess.run(
        [
            str(tool.path),
            "-z",
            f"{seconds}s",
            "-c",
            str(workers),
            "-q",
            str(per_worker),
            "-o",
            "csv",
            *headers,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = list(csv.DictReader(io.StringIO(output)))
    latencies = sorted(float(r["response-time"]) * 1000 for r in rows)
    codes: dict[str, int] = {}
    for r in rows:
        codes[r["status-code"]] = codes.get(r["status-code"], 0) + 1
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return ReadResult(
        route=route,
        tool="hey (one URL per route)",
        requests=len(rows),
        distinct_urls=1,
        rate=round(len(rows) / seconds, 1),
        throughput=round(ok / seconds, 1),
        success=round(ok / max(1, len(rows)), 4),
        p50_ms=round(quantiles[49], 2),
        p90_ms=round(quantiles[89], 2),
        p99_ms=round(quantiles[98], 2),
        max_ms=round(latencies[-1] if latencies else 0.0, 2),
        status_codes=codes,
        errors=[],
    )
