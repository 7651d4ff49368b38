"""Ready-made, valid example events for tests and docs (never used by production code)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from credreg_shared.events.cloudevents import Envelope, new_envelope
from credreg_shared.events.models import (
    ApiKeyIssued,
    ApiKeyRevoked,
    Competency,
    CredentialExpired,
    CredentialExpiring,
    CredentialIssued,
    CredentialReinstated,
    CredentialRevoked,
    CredentialSuspended,
    EventData,
    IssuanceRequested,
    IssuanceResult,
    PathwayCompleted,
    PathwayDefined,
    Renewal,
)

SAMPLE_SOURCE = "https://issuer.credreg.example/institutions/northern-college"
SAMPLE_ISSUER = "did:web:issuer.credreg.example:institutions:northern-college"
SAMPLE_HOLDER = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
VALID_FROM = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
VALID_UNTIL = datetime(2028, 1, 15, 9, 0, tzinfo=UTC)
RENEWAL = Renewal(
    url="https://issuer.credreg.example/renew/cpr", text="Take the 2028 CPR refresher course."
)
PATHWAY_AWARD = {
    "achievement": {
        "name": "First Responder Certificate",
        "achievement_type": "Certificate",
        "competencies": [{"name": "Respond to an emergency", "code": "FR-1"}],
    }
}
"""A pathway's stacked credential: an issuance command without its holder."""


def sample_credential_id() -> str:
    """A fresh credential id in the form the issuer uses (a urn:uuid)."""
    return f"urn:uuid:{uuid.uuid4()}"


def sample_credential_document(
    credential_id: str, holder_id: str = SAMPLE_HOLDER
) -> dict[str, Any]:
    """A small Open Badges 3.0 AchievementCredential document (unsigned: a shape, not a proof)."""
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": SAMPLE_ISSUER, "type": ["Profile"], "name": "Northern College"},
        "validFrom": "2026-01-15T09:00:00Z",
        "validUntil": "2028-01-15T09:00:00Z",
        "credentialSubject": {
            "id": holder_id,
            "type": ["AchievementSubject"],
            "achievement": {
                "id": "https://issuer.credreg.example/achievements/cpr-2026",
                "type": ["Achievement"],
                "achievementType": "MicroCredential",
                "name": "CPR and First Aid",
                "criteria": {"narrative": "Pass the practical assessment."},
            },
        },
    }


def credential_issued(
    credential_id: str | None = None, holder_id: str = SAMPLE_HOLDER
) -> CredentialIssued:
    """A `CredentialIssued` for the sample CPR micro-credential."""
    credential_id = credential_id or sample_credential_id()
    return CredentialIssued(
        credential_id=credential_id,
        issuer_id=SAMPLE_ISSUER,
        holder_id=holder_id,
        achievement_id="https://issuer.credreg.example/achievements/cpr-2026",
        achievement_name="CPR and First Aid",
        achievement_type="MicroCredential",
        competencies=(
            Competency(
                name="Adult CPR",
                framework="https://frameworks.credreg.example/first-aid",
                code="FA-1",
            ),
        ),
        valid_from=VALID_FROM,
        valid_until=VALID_UNTIL,
        credential=sample_credential_document(credential_id, holder_id),
    )


def credential_revoked(
    credential_id: str | None = None,
    holder_id: str = SAMPLE_HOLDER,
    reason: str = "issued in error",
) -> CredentialRevoked:
    """A `CredentialRevoked` of a sample credential (a new one unless `credential_id` is given)."""
    return CredentialRevoked(
        credential_id=credential_id or sample_credential_id(),
        issuer_id=SAMPLE_ISSUER,
        holder_id=holder_id,
        reason=reason,
    )


def every_event_kind(credential_id: str | None = None) -> list[EventData]:
    """One valid data object of every current event type."""
    credential_id = credential_id or sample_credential_id()
    common = {
        "credential_id": credential_id,
        "issuer_id": SAMPLE_ISSUER,
        "holder_id": SAMPLE_HOLDER,
    }
    return [
        credential_issued(credential_id),
        CredentialRevoked(**common, reason="superseded", superseded_by=sample_credential_id()),
        CredentialSuspended(**common, reason="under review"),
        CredentialReinstated(**common),
        CredentialExpired(**common, valid_until=VALID_UNTIL),
        CredentialExpiring(**common, valid_until=VALID_UNTIL, lead_days=30, renewal=RENEWAL),
        PathwayDefined(
            pathway_id="https://issuer.credreg.example/pathways/first-responder",
            issuer_id=SAMPLE_ISSUER,
            name="First Responder",
            required_achievement_ids=(
                "https://issuer.credreg.example/achievements/cpr-2026",
                "https://issuer.credreg.example/achievements/first-aid-2026",
                "https://issuer.credreg.example/achievements/triage-2026",
            ),
            required_count=2,
            award=PATHWAY_AWARD,
        ),
        PathwayCompleted(
            pathway_id="https://issuer.credreg.example/pathways/first-responder",
            issuer_id=SAMPLE_ISSUER,
            holder_id=SAMPLE_HOLDER,
            credential_ids=(credential_id,),
            award=PATHWAY_AWARD,
        ),
        ApiKeyIssued(
            institution_id=SAMPLE_ISSUER, key_id="k1", digest="0" * 64, scopes=("revoke",)
        ),
        ApiKeyRevoked(institution_id=SAMPLE_ISSUER, key_id="k1", digest="0" * 64),
        IssuanceRequested(
            request_id="registrar-2026-0001",
            institution_id=SAMPLE_ISSUER,
            credential={
                "holder_id": SAMPLE_HOLDER,
                "achievement": {"name": "CPR", "competencies": [{"name": "Chest compressions"}]},
            },
        ),
        IssuanceResult(
            request_id="registrar-2026-0001",
            institution_id=SAMPLE_ISSUER,
            status="accepted",
            credential_id=credential_id,
            issued_event_id="0b0e3a4c-0f0b-4c39-9d3a-6f4f7c9d2a10",
        ),
    ]


def sample_envelope(data: EventData | None = None) -> Envelope:
    """An envelope around `data` (default: a fresh `CredentialIssued`) from the sample source."""
    return new_envelope(data or credential_issued(), source=SAMPLE_SOURCE)
