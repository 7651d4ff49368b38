"""pytest -p broken_build: a deliberately broken verifier, chosen by CREDREG_BREAK (nothing in the
tree is edited; the patch lives for the test session only)."""

import os

from credreg_shared.credentials import data_integrity, status_list, verification
from credreg_shared.credentials.report import Check, Outcome

BREAK = os.environ["CREDREG_BREAK"]


def _skip_proof(verify):
    """verify_credential whose `proof` check always passes (the proof check skipped)."""

    def broken(*args, **kwargs):
        report = verify(*args, **kwargs)
        checks = [
            Check(name="proof", outcome=Outcome.PASSED, reason="skipped")
            if c.name == "proof"
            else c
            for c in report.checks
        ]
        return report.model_copy(update={"checks": checks})

    return broken


if BREAK == "signature":  # every Ed25519 signature "valid": both verifiers, credentials and lists
    data_integrity.verify_ed25519 = lambda public_key, signature, data: True
elif BREAK == "cli-proof":  # the CLI alone skips the proof check
    from credreg_cli import verify_command

    verify_command.verify_credential = _skip_proof(verify_command.verify_credential)
elif BREAK == "registry-proof":  # the registry alone skips the proof check
    from credreg_registry import use_cases

    use_cases.verify_credential = _skip_proof(use_cases.verify_credential)
elif BREAK == "status-list-proof":  # status lists taken without checking their proof
    status_list.verify_proofs = lambda document, **kwargs: [
        data_integrity.ProofVerification(True, "skipped", "x", "x", "x")
    ]
elif BREAK == "issuer-binding":  # any verified key counts as the issuer's
    verification._issuer_check = lambda credential, results: Check(
        name="issuer", outcome=Outcome.PASSED, reason="skipped"
    )
else:
    raise SystemExit(f"unknown CREDREG_BREAK {BREAK!r}")
