"""The issuer's rules: the issue command, credential ids, the signed credential and its event.

Nothing here does I/O: the command (`credreg_shared.issuance`) is validated at the edge,
`prepare_issuance` builds the signed ``credential.issued`` event for it, and `CredentialSigner`
adds Data Integrity proofs (crypto only, no I/O).

Signing uses each institution's Ed25519 key, when it has one configured. The verification
method is ``<institution DID>#<public multikey>``: for a ``did:key`` issuer that is its own key
(verifiers resolve it offline); for a ``did:web`` issuer it is the method its DID document must
list. Institution ids are DIDs (settings refuse anything else at start-up).
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from credreg_shared.credentials import model as ob
from credreg_shared.credentials.cryptosuites import EDDSA_JCS_2022
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.errors import DomainError
from credreg_shared.events import models
from credreg_shared.events.cloudevents import (
    Envelope,
    KafkaRecord,
    derived_event_id,
    new_envelope,
    to_record,
)
from credreg_shared.issuance import AchievementIn, IssuanceError, IssueCredential, OrganisationIn

ID_NAMESPACE = uuid.UUID("5b8f3f0e-3d7c-4f55-9a51-9d0c2f1e6a11")
ISSUED_PURPOSE = "issued"


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was first used for a different request."""


class ValidityWindowPassed(DomainError):
    """A new credential's `valid_until` is not after now (it would never be valid)."""

    def __init__(self, errors: Sequence[IssuanceError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = list(errors)


# --- Data Integrity proofs with each institution's Ed25519 key ---------------------------


def verification_method_for(institution: str, key_pair: Ed25519KeyPair) -> str:
    """The id of the verification method that proofs by `institution` name."""
    controller = (
        institution if institution.startswith("did:") else did_key_for(key_pair.public_key_bytes)
    )
    return f"{controller}#{key_pair.public_multikey}"


class CredentialSigner:
    """Adds one `DataIntegrityProof` per credential, with the issuing institution's key."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519KeyPair],
        *,
        cryptosuite: str = EDDSA_JCS_2022,
        methods: Mapping[str, str] | None = None,
    ) -> None:
        self.keys = dict(keys)
        self.cryptosuite = cryptosuite
        # Verification method per institution, when its DID document names the key otherwise.
        self.methods = dict(methods or {})

    def sign(
        self, document: Mapping[str, Any], *, institution: str, created: datetime
    ) -> dict[str, Any]:
        """The document with a proof, or unchanged when the institution has no key."""
        key_pair = self.keys.get(institution)
        if key_pair is None:
            return dict(document)
        return add_proof(
            document,
            key_pair=key_pair,
            verification_method=self.methods.get(institution)
            or verification_method_for(institution, key_pair),
            cryptosuite=self.cryptosuite,
            created=created,
        )


# --- ids, the OB 3.0 document and its credential.issued event ----------------------------


def _derived(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, json.dumps(parts))}"


def credential_id_for(
    institution: str, idempotency_key: str | None, *, secret: bytes | None = None
) -> str:
    """A fresh id, or one derived from the key so every retry names the same credential.

    With `secret` (the deployment's ``CREDENTIAL_ID_SECRET``) the derivation is keyed, so that
    nobody who knows or guesses an Idempotency-Key can compute the credential's id.
    """
    if idempotency_key is None:
        return f"urn:uuid:{uuid.uuid4()}"
    if secret is None:
        return _derived("credential", institution, idempotency_key)
    digest = hmac.new(secret, json.dumps([institution, idempotency_key]).encode(), "sha256")
    return f"urn:uuid:{uuid.UUID(bytes=digest.digest()[:16], version=4)}"


def achievement_id_for(institution: str, achievement: AchievementIn) -> str:
    """The same achievement name of the same institution always gets the same id."""
    return _derived("achievement", institution, achievement.name)


def competency_url_for(institution: str, code: str | None, name: str) -> str:
    """A stable URN for a competency the registrar gave no framework URL for."""
    return _derived("competency", institution, code or name)


def build_credential(
    command: IssueCredential,
    *,
    institution: str,
    credential_id: str,
    valid_from: datetime,
    credential_status: Mapping[str, Any] | None = None,
    achievements: dict[str, ob.Achievement] | None = None,
) -> ob.AchievementCredential:
    """The unsigned OB 3.0 AchievementCredential the command asks for.

    `achievements` keeps the achievements built so far (by their request's JSON): the credentials
    of a convocation share a few, and building one took a third of the unsigned credential's time.
    """
    wanted = command.achievement
    achievement = (
        _achievement(institution, wanted)
        if achievements is None
        else _achievement_of(institution, wanted, achievements)
    )
    holder = (
        ob.AchievementSubject(id=command.holder_id, achievement=achievement)
        if command.holder_is_did
        else ob.AchievementSubject(
            # Never the plain learner id: OB's salted SHA-256 identity hash.
            identifier=[ob.hashed_identifier(command.holder_id, identity_type="identifier")],
            achievement=achievement,
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
        credential_status=(
            [ob.StatusEntry.model_validate(credential_status)] if credential_status else []
        ),
    )


def _achievement_of(
    institution: str, wanted: AchievementIn, built: dict[str, ob.Achievement]
) -> ob.Achievement:
    """The achievement `wanted` names, taken from `built` when it is there (models are frozen)."""
    key = wanted.model_dump_json()
    achievement = built.get(key)
    if achievement is None:
        achievement = built[key] = _achievement(institution, wanted)
    return achievement


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
        assessment=(
            ob.AssessmentMethod(
                assessment_type=wanted.assessment.type,
                description=wanted.assessment.description,
            )
            if wanted.assessment
            else None
        ),
        accreditation=[
            ob.Accreditation(id=a.id, accreditor=_profile(a.accreditor), name=a.name, url=a.url)
            for a in wanted.accreditations
        ],
        industry_partner=[_profile(p) for p in wanted.industry_partners],
    )


def _profile(organisation: OrganisationIn) -> ob.Profile:
    return ob.Profile(id=organisation.id, name=organisation.name, url=organisation.url)


def prepare_issuance(
    command: IssueCredential,
    *,
    institution: str,
    credential_id: str,
    source: str,
    signer: CredentialSigner,
    credential_status: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    achievements: dict[str, ob.Achievement] | None = None,
) -> Envelope:
    """The signed credential inside its `credential.issued` event, ready to publish.

    The event id is derived from the credential id, so republishing one credential's event
    (a retry, two racing replicas) is one event to every consumer. `now` (default: the
    current time) is the issuance time: the default `validFrom`, the proof's and the event's.
    `achievements`: as for `build_credential`.
    """
    now = now or datetime.now(UTC)
    valid_from = command.valid_from or now
    credential = build_credential(
        command,
        institution=institution,
        credential_id=credential_id,
        valid_from=valid_from,
        credential_status=credential_status,
        achievements=achievements,
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


def prepare_issuances(
    work: Sequence[tuple[IssueCredential, str, Mapping[str, Any] | None]],
    institution: str,
    source: str,
    signer: CredentialSigner,
    now: datetime | None = None,
) -> list[Envelope]:
    """`prepare_issuance` for each (command, credential id, status entry): picklable, so that a
    process pool can sign a chunk of a batch while the event loop serves requests."""
    achievements: dict[str, ob.Achievement] = {}
    return [
        prepare_issuance(
            command,
            institution=institution,
            credential_id=credential_id,
            source=source,
            signer=signer,
            credential_status=status,
            now=now,
            achievements=achievements,
        )
        for command, credential_id, status in work
    ]


def prepare_records(
    work: Sequence[tuple[IssueCredential, str, Mapping[str, Any] | None]],
    institution: str,
    source: str,
    signer: CredentialSigner,
    now: datetime | None = None,
) -> list[KafkaRecord]:
    """`prepare_issuances`, each event encoded for the log: a process pool then sends bytes back,
    not models for the event loop to unpickle and encode again (~55 µs a credential there)."""
    return [
        to_record(envelope)
        for envelope in prepare_issuances(work, institution, source, signer, now)
    ]
