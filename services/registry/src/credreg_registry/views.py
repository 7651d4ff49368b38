"""What the registry's API answers: response models and their mapping from view documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from credreg_shared.events.models import Competency
from credreg_shared.storage import Document


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


class Portfolio(Response):
    """Every credential of one holder."""

    holder_id: str
    credentials: list[CredentialSummary]


class Stats(Response):
    """How many credentials the view holds."""

    credentials: int = Field(description="Issued credentials, whatever their status")
    by_status: dict[str, int]
    awaiting_issuance: int = Field(
        description="Lifecycle events seen for credentials whose issued event is not in yet"
    )


def credential_view(document: Document) -> CredentialView:
    """A view document as the API answers it (bookkeeping fields left out)."""
    return CredentialView.model_validate({**document, "id": document["_id"]})


def summary(document: Document) -> CredentialSummary:
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
