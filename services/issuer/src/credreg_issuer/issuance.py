"""Issuance rules: credential ids, the OB 3.0 document and its ``credential.issued`` event."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from credreg_issuer.commands import AchievementIn, IssueCredential
from credreg_issuer.signing import CredentialSigner
from credreg_shared.credentials import model as ob
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope, derived_event_id, new_envelope

ID_NAMESPACE = uuid.UUID("5b8f3f0e-3d7c-4f55-9a51-9d0c2f1e6a11")
ISSUED_PURPOSE = "issued"


class IssuanceRefused(Exception):
    """A request that is not carried out; `status` is its HTTP answer."""

    status = 400


class IdempotencyKeyReused(IssuanceRefused):
    """The Idempotency-Key was first used for a different request."""

    status = 409


class IssuanceUnavailable(IssuanceRefused):
    """The event log or the database did not answer; nothing was issued."""

    status = 503


def _derived(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, json.dumps(parts))}"


def credential_id_for(institution: str, idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the key so every retry names the same credential."""
    if idempotency_key is None:
        return f"urn:uuid:{uuid.uuid4()}"
    return _derived("credential", institution, idempotency_key)


def achievement_id_for(institution: str, achievement: AchievementIn) -> str:
    """The same achievement name of the same institution always gets the same id."""
    return _derived("achievement", institution, achievement.name)


def competency_url_for(institution: str, code: str | None, name: str) -> str:
    """A stable URN for a competency the registrar gave no framework URL for."""
    return _derived("competency", institution, code or name)


def build_credential(
    command: IssueCredential, *, institution: str, credential_id: str, valid_from: datetime
) -> ob.AchievementCredential:
    """The unsigned OB 3.0 AchievementCredential the command asks for."""
    wanted = command.achievement
    holder = (
        ob.AchievementSubject(id=command.holder_id, achievement=_achievement(institution, wanted))
        if command.holder_is_did
        else ob.AchievementSubject(
            # Never the plain learner id: OB's salted SHA-256 identity hash.
            identifier=[ob.hashed_identifier(command.holder_id, identity_type="identifier")],
            achievement=_achievement(institution, wanted),
        )
    )
    return ob.AchievementCredential(
        id=credential_id,
        name=wanted.name,
        description=wanted.description,
        issuer=ob.Profile(id=institution),
        valid_from=valid_from,
        valid_until=command.valid_until,
        credential_subject=holder,
    )


def _achievement(institution: str, wanted: AchievementIn) -> ob.Achievement:
    return ob.Achievement(
        id=achievement_id_for(institution, wanted),
        achievement_type=wanted.achievement_type,
        name=wanted.name,
        description=wanted.description or wanted.name,
        criteria=ob.Criteria(narrative=wanted.description or "Demonstrated every competency."),
        alignment=[
            ob.Alignment(
                target_name=c.name,
                target_url=c.framework_url or competency_url_for(institution, c.code, c.name),
                target_code=c.code,
            )
            for c in wanted.competencies
        ],
        learning_hours=wanted.hours,
        delivery_mode=wanted.credential_delivery_mode,
    )


def prepare_issuance(
    command: IssueCredential,
    *,
    institution: str,
    credential_id: str,
    source: str,
    signer: CredentialSigner,
) -> Envelope:
    """The signed credential inside its `credential.issued` event, ready to publish.

    The event id is derived from the credential id, so republishing one credential's event
    (a retry, two racing replicas) is one event to every consumer.
    """
    now = datetime.now(UTC)
    valid_from = command.valid_from or now
    credential = build_credential(
        command, institution=institution, credential_id=credential_id, valid_from=valid_from
    )
    document = signer.sign(credential.to_document(), institution=institution, created=now)
    data = models.CredentialIssued(
        credential_id=credential_id,
        issuer_id=institution,
        holder_id=command.holder_id,
        achievement_id=credential.credential_subject.achievement.id,
        achievement_name=command.achievement.name,
        achievement_type=command.achievement.achievement_type,
        competencies=tuple(
            models.Competency(name=c.name, url=c.framework_url, code=c.code)
            for c in command.achievement.competencies
        ),
        valid_from=valid_from,
        valid_until=command.valid_until,
        credential=document,
    )
    event_id = derived_event_id(credential_id, ISSUED_PURPOSE)
    return new_envelope(data, source=source, event_id=event_id, time=now)
