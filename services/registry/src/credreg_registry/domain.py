"""The registry's read model: what it answers about credentials, and how a view document reads.

The view holds one document per credential (``_id`` = credential id), written by
``projection``, plus portfolio, postings and counters documents derived from them (``layout``).
A document without the `ISSUED_FLAG` is a *placeholder*: lifecycle events came before the
credential's ``issued`` event, and the registry does not show it yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from credreg_shared.callers import Caller as Caller
from credreg_shared.errors import DomainError
from credreg_shared.events.lifecycle import ACTIVE, EXPIRED, SUSPENDED
from credreg_shared.events.models import Competency, Renewal

ISSUED_FLAG = "issued"
"""True once the credential's ``issued`` event is in the view; placeholders lack it."""

EXPIRING = "expiring"
"""The stored latest expiring notice (``valid_until``, ``noticed_at``, ``lead_days``, ``renewal``);
the answers call it ``expires_soon``."""

EXPIRY_RENEWAL = "renewal"
"""The stored renewal of the ``expired`` event (the answers show it only while expired)."""

SUPERSEDES = "supersedes"
"""The ids of the credentials that a credential replaced (their revocations named it)."""

NOTICE_SHOWN_WHILE = (ACTIVE, SUSPENDED)
"""An expiring notice concerns a holder only while the credential may still be in force."""


class NotYourPortfolio(DomainError):
    """A holder may read its own portfolio only."""


class HolderUnknownToInstitution(DomainError):
    """The institution issued nothing to this holder: it may not vouch for it."""


class CredentialNotFound(DomainError):
    """The registry shows no credential with this id (unknown, or still a placeholder)."""

    def __init__(self, credential_id: str) -> None:
        super().__init__(f"no credential {credential_id!r} in the registry")
        self.credential_id = credential_id


class InvalidCursor(DomainError):
    """A page cursor that this registry did not hand out."""

    def __init__(self, cursor: str) -> None:
        super().__init__(f"{cursor!r} is not a cursor of this list; start without one")


class SearchNeedsFilter(DomainError):
    """A search without a criterion: it would list every credential."""

    def __init__(self) -> None:
        super().__init__(
            "say what to search for: a competency, achievement_type, issuer, min_hours, "
            "delivery_mode, competency_based, accredited, accredited_by or industry_aligned "
            "(a status alone is none)"
        )


PORTFOLIO_PAGE = 100
VOUCH_PAGES = 50
"""Pages of a holder's portfolio searched for an institution's credential before it may mint
the holder a token (5,000 credentials)."""
SEARCH_PAGE_DEFAULT = 20
SEARCH_PAGE_MAX = 100


class Response(BaseModel):
    """Base of the registry's answers."""

    model_config = ConfigDict(frozen=True)


class Achievement(Response):
    """What the credential certifies."""

    id: str
    name: str
    type: str | None = None
    competencies: list[Competency] = []


class Revocation(Response):
    """Why and when the credential was revoked."""

    reason: str
    superseded_by: str | None = None
    revoked_at: datetime


class Suspension(Response):
    """Why and when the credential was suspended."""

    reason: str | None = None
    suspended_at: datetime


class ExpiresSoon(Response):
    """Advance notice that the credential expires soon."""

    valid_until: datetime
    noticed_at: datetime
    lead_days: int | None = Field(
        default=None, description="The issuer's lead time (in days) this notice keeps"
    )
    renewal: Renewal | None = None


class CredentialView(Response):
    """One credential with its current lifecycle status."""

    id: str
    issuer_id: str
    holder_id: str
    status: str = Field(description="active, suspended, expired or revoked")
    achievement: Achievement
    valid_from: datetime
    valid_until: datetime | None = None
    credential: dict[str, Any] = Field(description="The Verifiable Credential as issued")
    issued_at: datetime
    updated_at: datetime
    revocation: Revocation | None = None
    suspension: Suspension | None = None
    expires_soon: ExpiresSoon | None = Field(
        default=None,
        description="The latest expiring notice, while the credential is active or suspended",
    )
    renewal: Renewal | None = Field(
        default=None,
        description="How to renew: once expired (from the expiry, else the notice) or expiring",
    )
    expired_at: datetime | None = None
    reinstated_at: datetime | None = None
    supersedes: list[str] = Field(
        default=[], description="Credentials that this one replaced (their revocation names it)"
    )


class CredentialSummary(Response):
    """One line of a holder's portfolio."""

    id: str
    status: str
    issuer_id: str
    achievement_name: str
    achievement_type: str | None = None
    valid_from: datetime
    valid_until: datetime | None = None
    expires_soon: datetime | None = Field(
        default=None,
        description="The `valid_until` of an expiring notice, while active or suspended",
    )


class PortfolioEntry(CredentialSummary):
    """One line of a holder's portfolio, with the holder's consent to employer search."""

    searchable: bool = Field(
        default=False, description="The holder lets employers find it (`PUT …/searchable`)"
    )


class PortfolioPage(Response):
    """One page of a holder's credentials (at most 100), in the order the registry recorded them."""

    holder_id: str
    credentials: list[PortfolioEntry]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last page"
    )


class Verification(Response):
    """What a verifier asks first: is this credential in force now, and since when."""

    id: str
    issuer_id: str
    status: str = Field(description="active, suspended, expired or revoked")
    valid_from: datetime
    valid_until: datetime | None = None
    in_force: bool = Field(description="Active, and `checked_at` lies within its validity")
    checked_at: datetime
    superseded_by: str | None = Field(
        default=None, description="The credential that replaced this revoked one"
    )
    supersedes: list[str] = Field(default=[], description="Credentials that this one replaced")


class Stats(Response):
    """How many credentials the view holds."""

    credentials: int = Field(description="Issued credentials, whatever their status")
    by_status: dict[str, int]
    awaiting_issuance: int = Field(
        description="Lifecycle events seen for credentials whose issued event is not in yet"
    )


def credential_view(document: Mapping[str, Any], body: str) -> CredentialView:
    """A state document and the credential's JSON text, as the API answers them."""
    credential = json.loads(body)
    return CredentialView.model_validate(
        {
            **document,
            "id": document["_id"],
            "credential": credential,
            "expires_soon": expiry_notice(document),
            "renewal": renewal(document),
            SUPERSEDES: superseded(document),
        }
    )


def expiry_notice(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The stored expiring notice while it concerns the holder (active or suspended), else None."""
    if document["status"] not in NOTICE_SHOWN_WHILE:
        return None
    notice: Mapping[str, Any] | None = document.get(EXPIRING)
    return notice


def renewal(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """How to renew: once expired, the expiry's renewal or else the notice's; while a notice
    shows, the notice's; otherwise (revoked, or no notice) None."""
    notice = document.get(EXPIRING) or {}
    if document["status"] == EXPIRED:
        found: Mapping[str, Any] | None = document.get(EXPIRY_RENEWAL) or notice.get("renewal")
        return found
    return notice.get("renewal") if expiry_notice(document) is not None else None


def superseded(document: Mapping[str, Any]) -> list[str]:
    """The credentials this one replaced, sorted (stored in arrival order, which may differ
    between replays when the revocations sit on different partitions)."""
    return sorted(document.get(SUPERSEDES, []))


def summary(document: Mapping[str, Any]) -> CredentialSummary:
    """The portfolio line of one view document."""
    achievement = document["achievement"]
    return CredentialSummary(
        id=document["_id"],
        status=document["status"],
        issuer_id=document["issuer_id"],
        achievement_name=achievement["name"],
        achievement_type=achievement.get("type"),
        valid_from=document["valid_from"],
        valid_until=document.get("valid_until"),
        expires_soon=(expiry_notice(document) or {}).get("valid_until"),
    )


def competency_keys(competencies: Iterable[Mapping[str, Any]]) -> set[str]:
    """The search keys of a credential's competencies: each one's URL, code and framework URL."""
    return {
        value.strip()
        for competency in competencies
        for value in (competency.get("url"), competency.get("code"), competency.get("framework"))
        if isinstance(value, str) and value.strip()
    }


def verification(document: Mapping[str, Any], now: datetime) -> Verification:
    """A credential document's verification answer at `now`."""
    valid_until = document.get("valid_until")
    in_force = (
        document["status"] == "active"
        and document["valid_from"] <= now
        and (valid_until is None or now < valid_until)
    )
    return Verification(
        id=document["_id"],
        issuer_id=document["issuer_id"],
        status=document["status"],
        valid_from=document["valid_from"],
        valid_until=valid_until,
        in_force=in_force,
        checked_at=now,
        superseded_by=(document.get("revocation") or {}).get("superseded_by"),
        supersedes=superseded(document),
    )
