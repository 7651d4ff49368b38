"""The command a registrar posts to issue one credential, validated at the edge."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from credreg_shared.credentials.model import DeliveryMode

# Open Badges 3.0 AchievementType values, plus its `ext:` extension form.
OB_ACHIEVEMENT_TYPES = Literal[
    "Achievement", "ApprenticeshipCertificate", "Assessment", "Assignment", "AssociateDegree",
    "Award", "Badge", "BachelorDegree", "Certificate", "CertificateOfCompletion",
    "Certification", "CommunityService", "Competency", "Course", "CoCurricular", "Degree",
    "Diploma", "DoctoralDegree", "Fieldwork", "GeneralEducationDevelopment",
    "JourneymanCertificate", "LearningProgram", "License", "Membership",
    "ProfessionalDoctorate", "QualityAssuranceCredential", "MasterCertificate", "MasterDegree",
    "MicroCredential", "ResearchDoctorate", "SecondarySchoolDiploma",
]  # fmt: skip
ExtensionType = Annotated[str, Field(pattern=r"^ext:[A-Za-z0-9._-]+$", max_length=100)]
Name = Annotated[str, Field(min_length=1, max_length=500)]
# A DID (`did:method:id`) or an opaque learner id without control characters.
HolderId = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]
DID = re.compile(r"did:[a-z0-9]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._%-]")
DeliveryModeIn = Literal["online", "in_person", "in-person", "blended"]
DELIVERY_MODES: dict[str, DeliveryMode] = {
    "online": "online",
    "in_person": "in-person",
    "in-person": "in-person",
    "blended": "blended",
}
STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CompetencyIn(BaseModel):
    """One competency the credential certifies, optionally aligned to a framework."""

    model_config = STRICT

    name: Name
    framework_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    code: str | None = Field(default=None, min_length=1, max_length=100)


class AchievementIn(BaseModel):
    """The achievement: what was learnt, how long it took, how it was delivered."""

    model_config = STRICT

    name: Name
    description: str | None = Field(default=None, min_length=1, max_length=5000)
    achievement_type: OB_ACHIEVEMENT_TYPES | ExtensionType = "MicroCredential"
    competencies: list[CompetencyIn] = Field(min_length=1, max_length=100)
    hours: Decimal | None = Field(default=None, gt=0, le=10_000, decimal_places=2)
    delivery_mode: DeliveryModeIn | None = None

    @property
    def credential_delivery_mode(self) -> DeliveryMode | None:
        """The delivery mode in the credential's vocabulary (which spells it "in-person")."""
        return DELIVERY_MODES[self.delivery_mode] if self.delivery_mode else None


class IssueCredential(BaseModel):
    """Issue one credential to one holder."""

    model_config = STRICT

    holder_id: HolderId
    achievement: AchievementIn
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None

    @field_validator("holder_id")
    @classmethod
    def _dids_are_well_formed(cls, value: str) -> str:
        if value.startswith("did:") and not DID.fullmatch(value):
            raise ValueError("holder_id starts with 'did:' but is not a well-formed DID")
        return value

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        start = self.valid_from or datetime.now(UTC)
        if self.valid_until is not None and self.valid_until <= start:
            raise ValueError("valid_until must be after valid_from (default: now)")
        return self

    @property
    def holder_is_did(self) -> bool:
        """Whether the holder is identified by a DID (else by a salted hash of the id)."""
        return self.holder_id.startswith("did:")

    def digest(self) -> str:
        """A digest of the command, to refuse an idempotency key reused for another request."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()
