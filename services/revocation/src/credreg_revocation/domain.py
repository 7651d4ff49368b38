"""The revocation domain: a credential as this service sees it, the changes an issuer may ask
for, the event each change becomes, and why a request is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credreg_shared.errors import DomainError
from credreg_shared.events import models
from credreg_shared.events.lifecycle import ACTIVE, REVOKED, STATUSES, SUSPENDED, next_status


@dataclass(frozen=True)
class CredentialRecord:
    """One credential in this service's view: who issued it, who holds it, its status."""

    credential_id: str
    issuer_id: str
    holder_id: str
    status: str
    valid_until: datetime | None = None
    achievement_id: str | None = None
    announced: frozenset[str] = frozenset()
    """The expiry notices already claimed (``expired``, ``expiring:30``…)."""
    busy: bool = False
    """An earlier change's event still waits in the outbox."""
    superseded_by: str | None = None
    changes: int = 0
    """How many requested changes (claims) the credential has had: a change's event id is
    derived from it, so a retried request publishes under the id of the attempt it repeats."""


@dataclass(frozen=True)
class Transition:
    """A status change an issuer can request: the status it reaches and those it may leave."""

    name: str
    target: str
    sources: frozenset[str]
    event: type[models.CredentialEvent]


REVOCATION = Transition(
    "revocation", REVOKED, frozenset({ACTIVE, SUSPENDED}), models.CredentialRevoked
)
SUSPENSION = Transition("suspension", SUSPENDED, frozenset({ACTIVE}), models.CredentialSuspended)
REINSTATEMENT = Transition(
    "reinstatement", ACTIVE, frozenset({SUSPENDED}), models.CredentialReinstated
)


@dataclass(frozen=True)
class ChangeStatus:
    """Command: an institution asks to revoke, suspend or reinstate one of its credentials."""

    credential_id: str
    institution: str
    transition: Transition
    reason: str | None = None
    superseded_by: str | None = None


@dataclass(frozen=True)
class StatusChanged:
    """The accepted change: the credential, its new status and the event the log holds."""

    credential_id: str
    status: str
    event_id: str


class UnknownCredential(DomainError):
    """The credential is not (yet) in this service's view."""


class NotTheIssuer(DomainError):
    """Only the institution that issued a credential may change its status."""


class TransitionNotAllowed(DomainError):
    """The credential's current status does not allow the change (e.g. already revoked)."""


class InvalidReplacement(DomainError):
    """`superseded_by` does not name a credential that can replace this one."""


class ReplacementRefused(DomainError):
    """The issuer found the replacement invalid; nothing was issued or revoked."""


class ReplacementConflict(DomainError):
    """This credential was already superseded by another replacement request."""


class ReplacementForbidden(DomainError):
    """The caller's key may not issue (it lacks the issuer's `issue` scope)."""


def check_replacement(
    record: CredentialRecord, replacement: CredentialRecord | None, replacement_id: str
) -> None:
    """Refuse a replacement that is unknown, the credential itself, not in force, or another
    holder's or another institution's credential."""
    if replacement_id == record.credential_id:
        raise InvalidReplacement("a credential cannot supersede itself")
    if replacement is None:
        raise InvalidReplacement(
            f"no credential {replacement_id!r} is known here: issue the replacement first"
        )
    if replacement.issuer_id != record.issuer_id:
        raise InvalidReplacement("the replacement was issued by another institution")
    if replacement.holder_id != record.holder_id:
        raise InvalidReplacement("the replacement belongs to another holder")
    if replacement.status != ACTIVE:
        raise InvalidReplacement(f"the replacement is {replacement.status}, not active")


def owned_record(
    record: CredentialRecord | None, credential_id: str, institution: str
) -> CredentialRecord:
    """`record` if it exists and `institution` issued it; else why the change is refused."""
    if record is None:
        raise UnknownCredential(f"no credential {credential_id!r} is known here")
    if record.issuer_id != institution:
        raise NotTheIssuer("only the issuing institution can change a credential's status")
    return record


def still_valid(record: CredentialRecord, now: datetime) -> None:
    """Refuse to bring back into force a credential whose validity has ended."""
    if record.valid_until is not None and record.valid_until <= now:
        raise TransitionNotAllowed(
            f"credential {record.credential_id!r} expired at {record.valid_until.isoformat()};"
            " it cannot be reinstated"
        )


def refusal(
    transition: Transition, credential_id: str, current: str | None
) -> UnknownCredential | TransitionNotAllowed:
    """Why a claim on `credential_id` found nothing to change."""
    if current is None:
        return UnknownCredential(f"no credential {credential_id!r} is known here")
    if current == transition.target:
        return TransitionNotAllowed(f"credential {credential_id!r} is already {current}")
    return TransitionNotAllowed(
        f"credential {credential_id!r} is {current}; {transition.name} is not possible"
    )


def event_details(command: ChangeStatus) -> dict[str, Any]:
    """The event fields that come from the request itself."""
    details: dict[str, Any] = {}
    if command.reason is not None:
        details["reason"] = command.reason
    if command.superseded_by is not None:
        details["superseded_by"] = command.superseded_by
    return details


def status_after(event: models.CredentialEvent) -> tuple[str, frozenset[str]] | None:
    """The status a log event moves a credential to and the statuses it moves it from.

    Derived from the shared lifecycle rules, so every view applies the same transitions; None
    for events that never change a status.
    """
    reachable = {(status, next_status(status, event)) for status in STATUSES}
    targets = {target for status, target in reachable if target is not None and target != status}
    if not targets:
        return None
    (target,) = targets
    return target, frozenset(status for status, to in reachable if to == target and status != to)
