"""Turns an issue request into an Open Badges 3.0 credential and its ``credential.issued`` event."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from credreg_issuer.requests import AchievementIn, IssueRequest
from credreg_shared.credentials import model as ob
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope, derived_event_id, new_envelope

ID_NAMESPACE = uuid.UUID("5b8f3f0e-3d7c-4f55-9a51-9d0c2f1e6a11")


@dataclass(frozen=True)
class Issuance:
    """A credential ready to publish: its id, the VC document and the event that carries it."""

    credential_id: str
    envelope: Envelope


def credential_id_for(institution: str, idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the idempotency key so a retry re-issues the same id."""
    if idempotency_key is None:
        return f"urn:uuid:{uuid.uuid4()}"
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, json.dumps([institution, idempotency_key]))}"


def request_digest(request: IssueRequest) -> str:
    """A digest of the request body, to refuse an idempotency key reused for another body."""
    return hashlib.sha256(request.model_dump_json(exclude_none=True).encode()).hexdigest()


def achievement_id(institution: str, achievement: AchievementIn) -> str:
    """The same achievement of the same institution always gets the same id."""
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, json.dumps([institution, achievement.name]))}"


def competency_url(institution: str, code: str | None, name: str) -> str:
    """The competency's framework URL, or a stable URN when the registrar gave none."""
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, json.dumps([institution, code or name]))}"


def build_document(
    request: IssueRequest, *, institution: str, credential_id: str, valid_from: datetime
) -> dict[str, object]:
    """The unsigned OB 3.0 AchievementCredential for the request."""
    wanted = request.achievement
    subject_holder = (
        {"id": request.holder_id}
        if request.holder_id.startswith("did:")
        else {"identifier": [ob.hashed_identifier(request.holder_id, identity_type="identifier")]}
    )
    achievement = ob.Achievement(
        id=achievement_id(institution, wanted),
        achievement_type=wanted.achievement_type,
        name=wanted.name,
        description=wanted.description or wanted.name,
        criteria=ob.Criteria(narrative=wanted.description or "Demonstrated every competency."),
        alignment=[
            ob.Alignment(
                target_name=c.name,
                target_url=c.framework_url or competency_url(institution, c.code, c.name),
                target_code=c.code,
            )
            for c in wanted.competencies
        ],
        learning_hours=Decimal(str(wanted.hours)) if wanted.hours is not None else None,
        delivery_mode=wanted.delivery_mode,
    )
    credential = ob.AchievementCredential(
        id=credential_id,
        name=wanted.name,
        issuer=ob.Profile(id=institution),
        valid_from=valid_from,
        valid_until=request.valid_until,
        credential_subject=ob.AchievementSubject(achievement=achievement, **subject_holder),
    )
    return credential.to_document()


def prepare_issuance(
    request: IssueRequest, *, institution: str, source: str, idempotency_key: str | None = None
) -> Issuance:
    """Build the credential and its event (the event id is derived from the credential id)."""
    credential_id = credential_id_for(institution, idempotency_key)
    valid_from = request.valid_from or datetime.now(UTC)
    document = build_document(
        request, institution=institution, credential_id=credential_id, valid_from=valid_from
    )
    data = models.CredentialIssued(
        credential_id=credential_id,
        issuer_id=institution,
        holder_id=request.holder_id,
        achievement_id=achievement_id(institution, request.achievement),
        achievement_name=request.achievement.name,
        achievement_type=request.achievement.achievement_type,
        competencies=tuple(
            models.Competency(name=c.name, url=c.framework_url, code=c.code)
            for c in request.achievement.competencies
        ),
        valid_from=valid_from,
        valid_until=request.valid_until,
        credential=document,
    )
    envelope = new_envelope(data, source=source, event_id=derived_event_id(credential_id, "issued"))
    return Issuance(credential_id, envelope)
