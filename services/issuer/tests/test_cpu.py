"""Signing in a process pool: the signer crosses the process boundary, and a dead worker is
replaced instead of breaking every later issuance."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from pathlib import Path

from credreg_issuer.cpu import alive, process_pool
from credreg_issuer.domain import CredentialSigner, prepare_issuances
from credreg_shared.credentials.cryptosuites import EDDSA_RDFC_2022
from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.events import models
from credreg_shared.heap import GC_YOUNG_THRESHOLD
from credreg_shared.testing import eventually

from .fixtures import command


async def test_a_chunk_signed_in_the_pool_verifies_and_a_killed_worker_is_replaced() -> None:
    key = Ed25519KeyPair.generate()
    issuer = did_key_for(key.public_key_bytes)
    signer = CredentialSigner({issuer: key}, cryptosuite=EDDSA_RDFC_2022)
    run, shutdown = process_pool(1)
    try:
        work = [
            (
                command(holder=f"did:example:{n}"),
                f"urn:uuid:{n:08d}-0000-4000-8000-000000000000",
                None,
            )
            for n in range(3)
        ]
        envelopes = await run(prepare_issuances, work, issuer, "urn:test", signer)
        first = await run(os.getpid)
        os.kill(first, signal.SIGKILL)
        second = await run(os.getpid)  # the pool broke with its worker: a new one answers
    finally:
        shutdown()

    assert second != first != os.getpid()
    assert [e.subject for e in envelopes] == [w[1] for w in work]
    for envelope in envelopes:
        credential = envelope.data_as(models.CredentialIssued).credential
        report = verify_credential(credential)
        assert report.check("proof").outcome is Outcome.PASSED, report.checks


SERVICE_KILLED_MIDWAY = """
import asyncio, os, signal
from credreg_issuer.cpu import alive, process_pool

async def main() -> None:
    run, _shutdown = process_pool(1)
    print(await run(os.getpid), await run(os.getppid), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no shutdown of the pool, as after a kill -9

if __name__ == "__main__":
    asyncio.run(main())
"""


async def test_the_signing_worker_and_its_forkserver_exit_when_the_service_is_killed(
    tmp_path: Path,
) -> None:
    script = tmp_path / "service.py"
    script.write_text(SERVICE_KILLED_MIDWAY)
    service = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(service.communicate(), timeout=60)
    assert service.returncode == -signal.SIGKILL
    worker, forkserver = (int(pid) for pid in out.decode().split())

    async def both_gone() -> bool | None:
        return True if not alive(worker) and not alive(forkserver) else None

    assert await eventually(both_gone, "the worker and the forkserver to exit", patience=30)


async def test_a_signing_worker_keeps_its_start_up_out_of_the_collectors_passes() -> None:
    run, shutdown = process_pool(1)
    try:
        frozen = await run(gc.get_freeze_count)
        threshold = await run(gc.get_threshold)
    finally:
        shutdown()

    assert frozen > 0
    assert threshold[0] == GC_YOUNG_THRESHOLD
