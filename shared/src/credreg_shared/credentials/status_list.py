"""Bitstring Status List v1.0: entries, status list credentials and status checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from .bitstring import MIN_STATUS_LIST_LENGTH, Bitstring, BitstringDecodeError
from .data_integrity import format_datetime, verify_proofs
from .document_loader import CREDENTIALS_V2_URL
from .validity import parse_datetime

StatusPurpose = Literal["revocation", "suspension"]
STATUS_LIST_ENTRY = "BitstringStatusListEntry"
STATUS_LIST_CREDENTIAL = "BitstringStatusListCredential"
DEFAULT_TTL = timedelta(minutes=5)


class StatusErrorType(StrEnum):
    """The processing errors of Bitstring Status List v1.0 §3.2."""

    STATUS_RETRIEVAL_ERROR = "STATUS_RETRIEVAL_ERROR"
    STATUS_VERIFICATION_ERROR = "STATUS_VERIFICATION_ERROR"
    STATUS_LIST_LENGTH_ERROR = "STATUS_LIST_LENGTH_ERROR"
    RANGE_ERROR = "RANGE_ERROR"
    MALFORMED_VALUE_ERROR = "MALFORMED_VALUE_ERROR"

    @property
    def type_url(self) -> str:
        """The error `type` URL the spec assigns."""
        return f"https://www.w3.org/ns/credentials/status-list#{self.value}"


@dataclass(frozen=True, slots=True)
class StatusResult:
    """The status of one `BitstringStatusListEntry`: a set bit, a clear bit, or an error."""

    purpose: str
    index: int | None
    status_list_credential: str | None
    is_set: bool | None
    error: StatusErrorType | None
    reason: str


def status_list_entry(
    *, status_list_credential: str, index: int, purpose: StatusPurpose
) -> dict[str, Any]:
    """Build a `BitstringStatusListEntry` for a credential's `credentialStatus`."""
    if index < 0:
        raise ValueError("status list index must be non-negative")
    return {
        "id": f"{status_list_credential}#{index}",
        "type": STATUS_LIST_ENTRY,
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": status_list_credential,
    }


def build_status_list_credential(
    *,
    url: str,
    issuer: str,
    purpose: StatusPurpose,
    bitstring: Bitstring,
    valid_from: datetime,
    valid_until: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> dict[str, Any]:
    """Build an unsigned `BitstringStatusListCredential` (sign it with `add_proof`)."""
    if len(bitstring) < MIN_STATUS_LIST_LENGTH:
        raise ValueError(f"a status list needs at least {MIN_STATUS_LIST_LENGTH} entries")
    credential: dict[str, Any] = {
        "@context": [CREDENTIALS_V2_URL],
        "id": url,
        "type": ["VerifiableCredential", STATUS_LIST_CREDENTIAL],
        "issuer": issuer,
        "validFrom": format_datetime(valid_from),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": bitstring.encode(),
            # The spec counts ttl in milliseconds.
            "ttl": int(ttl.total_seconds() * 1000),
        },
    }
    if valid_until is not None:
        credential["validUntil"] = format_datetime(valid_until)
    return credential


def status_entries(credential: Mapping[str, Any]) -> list[Any]:
    """Return the credential's `credentialStatus` entries as a list."""
    status = credential.get("credentialStatus")
    if status is None:
        return []
    return list(status) if isinstance(status, list) else [status]


def _issuer_id(credential: Mapping[str, Any]) -> Any:
    issuer = credential.get("issuer")
    return issuer.get("id") if isinstance(issuer, Mapping) else issuer


def check_status_entry(
    entry: Any,
    *,
    credential_issuer: Any,
    status_list_credentials: Mapping[str, Mapping[str, Any]],
    now: datetime,
    controller_documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> StatusResult:
    """Validate one `BitstringStatusListEntry` against its (verified) status list credential."""

    def fail(error: StatusErrorType, reason: str, index: int | None = None) -> StatusResult:
        purpose = entry.get("statusPurpose") if isinstance(entry, Mapping) else None
        url = entry.get("statusListCredential") if isinstance(entry, Mapping) else None
        return StatusResult(
            str(purpose), index, url if isinstance(url, str) else None, None, error, reason
        )

    if not isinstance(entry, Mapping) or entry.get("type") != STATUS_LIST_ENTRY:
        return fail(StatusErrorType.MALFORMED_VALUE_ERROR, "not a BitstringStatusListEntry")
    purpose, raw_index, url = (
        entry.get("statusPurpose"),
        entry.get("statusListIndex"),
        entry.get("statusListCredential"),
    )
    if not isinstance(purpose, str) or not isinstance(url, str):
        return fail(StatusErrorType.MALFORMED_VALUE_ERROR, "statusPurpose or URL missing")
    if not (isinstance(raw_index, str) and raw_index.isascii() and raw_index.isdigit()):
        return fail(StatusErrorType.MALFORMED_VALUE_ERROR, "statusListIndex is not a number")
    index = int(raw_index)
    status_list = status_list_credentials.get(url)
    if status_list is None:
        return fail(StatusErrorType.STATUS_RETRIEVAL_ERROR, f"status list {url} unavailable", index)
    proofs = verify_proofs(status_list, controller_documents=controller_documents)
    if not proofs or not all(proof.verified for proof in proofs):
        reason = proofs[0].reason if proofs else "status list credential has no proof"
        return fail(StatusErrorType.STATUS_VERIFICATION_ERROR, f"status list: {reason}", index)
    types = status_list.get("type")
    if not isinstance(types, list) or STATUS_LIST_CREDENTIAL not in types:
        return fail(
            StatusErrorType.STATUS_VERIFICATION_ERROR, "not a status list credential", index
        )
    if _issuer_id(status_list) != credential_issuer:
        return fail(
            StatusErrorType.STATUS_VERIFICATION_ERROR, "status list has another issuer", index
        )
    valid_from = parse_datetime(status_list.get("validFrom"))
    valid_until = parse_datetime(status_list.get("validUntil"))
    if (valid_from is not None and now < valid_from) or (
        valid_until is not None and now > valid_until
    ):
        return fail(StatusErrorType.STATUS_VERIFICATION_ERROR, "status list not valid now", index)
    subject = status_list.get("credentialSubject")
    if not isinstance(subject, Mapping):
        return fail(StatusErrorType.MALFORMED_VALUE_ERROR, "status list has no subject", index)
    list_purposes = subject.get("statusPurpose")
    if purpose not in (list_purposes if isinstance(list_purposes, list) else [list_purposes]):
        return fail(
            StatusErrorType.STATUS_VERIFICATION_ERROR,
            f"status list purpose {list_purposes!r} does not match {purpose!r}",
            index,
        )
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        return fail(StatusErrorType.MALFORMED_VALUE_ERROR, "encodedList missing", index)
    try:
        bitstring = Bitstring.decode(encoded)
    except BitstringDecodeError as error:
        return fail(StatusErrorType.MALFORMED_VALUE_ERROR, f"encodedList: {error}", index)
    if len(bitstring) < MIN_STATUS_LIST_LENGTH:
        return fail(
            StatusErrorType.STATUS_LIST_LENGTH_ERROR,
            f"status list has {len(bitstring)} entries, fewer than {MIN_STATUS_LIST_LENGTH}",
            index,
        )
    if index >= len(bitstring):
        return fail(
            StatusErrorType.RANGE_ERROR, f"index {index} beyond {len(bitstring)} entries", index
        )
    is_set = bitstring.get(index)
    reason = f"{purpose} bit {'set' if is_set else 'clear'}"
    return StatusResult(purpose, index, url, is_set, None, reason)


def check_status(
    credential: Mapping[str, Any],
    *,
    status_list_credentials: Mapping[str, Mapping[str, Any]],
    now: datetime,
    controller_documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[StatusResult]:
    """Check every `BitstringStatusListEntry` of a credential."""
    return [
        check_status_entry(
            entry,
            credential_issuer=_issuer_id(credential),
            status_list_credentials=status_list_credentials,
            now=now,
            controller_documents=controller_documents,
        )
        for entry in status_entries(credential)
    ]
