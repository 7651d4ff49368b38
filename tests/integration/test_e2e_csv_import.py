"""`credreg issue --csv` over real processes: a 20,000-row CSV interrupted with Ctrl-C (SIGINT)
and run again issues exactly 20,000 credentials."""

from __future__ import annotations

import asyncio
import csv
import signal
import sys
from asyncio.subprocess import PIPE
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.testing import read_log

from .conftest import Stack, create_api_key, create_institution, free_port, keep_institutions

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Eventually = Callable[..., Awaitable[Any]]
ROWS = 20_000
CLI = [sys.executable, "-c", "from credreg_cli.main import app; app()"]


def write_csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(["holder_id", "achievement_name", "competencies", "hours", "delivery_mode"])
        for n in range(ROWS):
            out.writerow(
                [
                    f"student-{n}@uni.example",
                    "Data Literacy",
                    "Read charts|DL-1;Clean data",
                    "12",
                    "online",
                ]
            )


async def test_an_interrupted_import_run_again_issues_every_row_exactly_once(
    empty_stack: Stack, endpoints: Any, eventually: Eventually, tmp_path: Path
) -> None:
    port = free_port()
    keep_institutions(empty_stack, port)
    issuer = empty_stack.start("issuer", port=port)
    async with httpx.AsyncClient(timeout=60) as client:
        did = await create_institution(client, issuer.url, "csv-uni", port)
        key = await create_api_key(client, issuer.url, did, "issue")
    rows = tmp_path / "convocation.csv"
    write_csv(rows)
    command = [
        *CLI, "issue", "--csv", str(rows), "--institution", did, "--api-key", key,
        "--url", issuer.url, "--batch-size", "2000",
    ]  # fmt: skip
    records = AsyncMongoClient(endpoints.mongodb_uri)[
        empty_stack.env_for("issuer")["CREDREG_MONGODB_DATABASE"]
    ]["idempotency_keys"]
    try:
        first = await asyncio.create_subprocess_exec(*command, stdout=PIPE, stderr=PIPE)

        async def some_issued() -> int | None:
            found = await records.count_documents({})
            return found if found >= 2_000 else None

        await eventually(some_issued, within=180)
        first.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = await asyncio.wait_for(first.communicate(), timeout=60)
        assert first.returncode == 130, (out + err).decode()
        assert b"run the same command again to resume" in out + err
        assert await records.count_documents({}) < ROWS, "the import ended before Ctrl-C"

        again = await asyncio.create_subprocess_exec(*command, stdout=PIPE, stderr=PIPE)
        out, err = await asyncio.wait_for(again.communicate(), timeout=600)
        assert again.returncode == 0, (out + err).decode()[-3000:]
        assert b"20,000" in out or b"20000" in out, out.decode()[-2000:]
        assert await records.count_documents({}) == ROWS
    finally:
        await records.database.client.close()
    log = await read_log(
        endpoints.kafka_bootstrap,
        f"{empty_stack.base_env['CREDREG_TOPIC_NAMESPACE']}{CREDENTIALS_TOPIC}",
        3,
    )
    issued = {e.data_as(models.CredentialIssued).credential_id for _, e in log}
    assert len(issued) == ROWS
