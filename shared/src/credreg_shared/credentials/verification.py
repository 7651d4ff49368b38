"""Verify a credential end to end: proof, issuer key, validity window, status and schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .data_integrity import ProofVerification, verify_proofs
from .report import Check, Outcome, VerificationReport
from .schema_validation import achievement_credential_errors
from .status_list import StatusResult, check_status
from .validity import parse_datetime

_VERDICTS = {"revocation": "revoked", "suspension": "suspended"}
OPEN_BADGE_TYPES = frozenset({"AchievementCredential", "OpenBadgeCredential"})
SINGLE_PROOF_WARNING = (
    "proof is a single object: valid VC 2.0 / Data Integrity, but the OB 3.0 JSON Schema "
    "prefers an array"
)


def _issuer_id(credential: Mapping[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    issuer = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    return issuer if isinstance(issuer, str) else None


def _proof_check(results: list[ProofVerification]) -> Check:
    if not results:
        return Check(name="proof", outcome=Outcome.FAILED, reason="credential has no proof")
    details = [
        f"{result.cryptosuite or '?'} {result.verification_method or '?'}: {result.reason}"
        for result in results
    ]
    failed = [result for result in results if not result.verified]
    if failed:
        return Check(name="proof", outcome=Outcome.FAILED, reason=failed[0].reason, details=details)
    suites = ", ".join(sorted({result.cryptosuite or "" for result in results}))
    return Check(
        name="proof",
        outcome=Outcome.PASSED,
        reason=f"{len(results)} valid {suites} signature(s)",
        details=details,
    )


def _issuer_check(credential: Mapping[str, Any], results: list[ProofVerification]) -> Check:
    issuer = _issuer_id(credential)
    if issuer is None:
        return Check(name="issuer", outcome=Outcome.FAILED, reason="credential has no issuer id")
    controllers = {result.controller for result in results if result.verified}
    if issuer in controllers:
        return Check(name="issuer", outcome=Outcome.PASSED, reason=f"signed with a key of {issuer}")
    if not controllers:
        return Check(
            name="issuer", outcome=Outcome.FAILED, reason="no verified proof binds a key to it"
        )
    return Check(
        name="issuer",
        outcome=Outcome.FAILED,
        reason=f"signed by {', '.join(sorted(c for c in controllers if c))}, not by {issuer}",
    )


def _validity_check(credential: Mapping[str, Any], now: datetime) -> Check:
    raw_from, raw_until = credential.get("validFrom"), credential.get("validUntil")
    valid_from, valid_until = parse_datetime(raw_from), parse_datetime(raw_until)
    if raw_from is not None and valid_from is None:
        return Check(name="validity", outcome=Outcome.FAILED, reason="validFrom is malformed")
    if raw_until is not None and valid_until is None:
        return Check(name="validity", outcome=Outcome.FAILED, reason="validUntil is malformed")
    if valid_from is not None and now < valid_from:
        return Check(name="validity", outcome=Outcome.FAILED, reason=f"not valid before {raw_from}")
    if valid_until is not None and now > valid_until:
        return Check(name="validity", outcome=Outcome.FAILED, reason=f"expired at {raw_until}")
    window = f"from {raw_from or 'the start'} until {raw_until or 'no end date'}"
    return Check(name="validity", outcome=Outcome.PASSED, reason=f"valid {window}")


def _status_check(purpose: str, results: list[StatusResult]) -> Check:
    relevant = [result for result in results if result.purpose == purpose]
    if not relevant:
        return Check(
            name=purpose, outcome=Outcome.NOT_APPLICABLE, reason=f"no {purpose} status entry"
        )
    for result in relevant:
        if result.error is not None:
            return Check(
                name=purpose,
                outcome=Outcome.FAILED,
                reason=result.reason,
                error_code=result.error.value,
            )
        if result.is_set:
            verdict = _VERDICTS.get(purpose, f"{purpose} bit set")
            return Check(
                name=purpose,
                outcome=Outcome.FAILED,
                reason=f"{verdict} (index {result.index} of {result.status_list_credential})",
            )
    return Check(
        name=purpose,
        outcome=Outcome.PASSED,
        reason=f"not {_VERDICTS.get(purpose, purpose)}",
    )


def _schema_check(credential: Mapping[str, Any]) -> Check:
    types = credential.get("type")
    type_list = types if isinstance(types, list) else [types]
    if not OPEN_BADGE_TYPES.intersection(t for t in type_list if isinstance(t, str)):
        return Check(
            name="schema", outcome=Outcome.NOT_APPLICABLE, reason="not an Open Badges credential"
        )
    warnings: list[str] = []
    proof = credential.get("proof")
    if isinstance(proof, Mapping):
        # A single proof object is valid VC 2.0 / Data Integrity (and what other libraries
        # sign); only the OB 3.0 JSON Schema insists on an array. Judge the rest as an array.
        credential = {**credential, "proof": [proof]}
        warnings.append(SINGLE_PROOF_WARNING)
    errors = achievement_credential_errors(credential)
    if errors:
        return Check(
            name="schema",
            outcome=Outcome.FAILED,
            reason=f"{len(errors)} OB 3.0 schema violation(s)",
            details=errors,
            warnings=warnings,
        )
    return Check(
        name="schema",
        outcome=Outcome.PASSED,
        reason="valid OB 3.0 AchievementCredential",
        warnings=warnings,
    )


@dataclass
class VerificationMaterial:
    """What verifying a credential needs from elsewhere (DID documents and status list
    credentials, by id and URL), and what could not be had."""

    controller_documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_list_credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def verify_credential(
    credential: Any,
    *,
    status_list_credentials: Mapping[str, Mapping[str, Any]] | None = None,
    controller_documents: Mapping[str, Mapping[str, Any]] | None = None,
    now: datetime | None = None,
) -> VerificationReport:
    """Run every check on a credential (parsed JSON); never raises for bad input."""
    checked_at = now or datetime.now(UTC)
    if not isinstance(credential, Mapping):
        failure = Check(name="format", outcome=Outcome.FAILED, reason="not a JSON object")
        return VerificationReport(credential_id=None, checked_at=checked_at, checks=[failure])
    proofs = verify_proofs(credential, controller_documents=controller_documents)
    statuses = check_status(
        credential,
        status_list_credentials=status_list_credentials or {},
        now=checked_at,
        controller_documents=controller_documents,
    )
    credential_id = credential.get("id")
    return VerificationReport(
        credential_id=credential_id if isinstance(credential_id, str) else None,
        checked_at=checked_at,
        checks=[
            _proof_check(proofs),
            _issuer_check(credential, proofs),
            _validity_check(credential, checked_at),
            _status_check("revocation", statuses),
            _status_check("suspension", statuses),
            _schema_check(credential),
        ],
    )
