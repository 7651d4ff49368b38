"""Signing in a process pool: the signer crosses the process boundary, and a dead worker is
replaced instead of breaking every later issuance."""

from __future__ import annotations

import os
import signal

from credreg_issuer.cpu import process_pool
from credreg_issuer.domain import CredentialSigner, prepare_issuances
from credreg_shared.credentials.cryptosuites import EDDSA_RDFC_2022
from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.events import models

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
