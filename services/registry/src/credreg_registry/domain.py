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

from credreg_shared.errors import DomainError
from credreg_shared.events.models import Competency

ISSUED_FLAG = "issued"
"""True once the credential's ``issued`` event is in the view; placeholders lack it."""


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
        super().__init__("say what to search for: competency=<framework URL or code>")


PORTFOLIO_PAGE = 100
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


class ExpiringNotice(Response):
    """Advance notice that the credential expires soon."""

    valid_until: datetime
    noticed_at: datetime


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
    expiring: ExpiringNotice | None = None
    expired_at: datetime | None = None
    reinstated_at: datetime | None = None


class CredentialSummary(Response):
    """One line of a holder's portfolio."""

    id: str
    status: str
    issuer_id: str
    achievement_name: str
    achievement_type: str | None = None
    valid_from: datetime
    valid_until: datetime | None = None


class PortfolioPage(Response):
    """One page of a holder's credentials (at most 100), in the order the registry recorded them."""

    holder_id: str
    credentials: list[CredentialSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last page"
    )


class SearchPage(Response):
    """One page of credentials that certify a competency, with their live status."""

    competency: str
    credentials: list[CredentialSummary]
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
        {**document, "id": document["_id"], "credential": credential}
    )


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
    )
