"""The issuance command a registrar sends (HTTP, a CSV row, a Kafka request), validated at the edge.

Shared by the issuer (which signs what the command asks for) and the CLI (which checks a CSV
before it sends anything), so that both apply the very same rules. Parsing is time-free: the
one rule that depends on "now" (`window_errors`) is applied by the issuer to new credentials
only, after the idempotency lookup, so that a retry is answered as its first attempt was.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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
C0_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _without_c0_controls(value: str) -> str:
    # RDF canonicalisation escapes these in N-Quads, and implementations disagree on how, so a
    # credential carrying one may verify with some verifiers and not with others (DESIGN §11).
    found = C0_CONTROLS.search(value)
    if found:
        raise ValueError(
            f"control character U+{ord(found.group()):04X} at position {found.start()}: "
            "only tab, line feed and carriage return are allowed"
        )
    return value


Text = Annotated[str, AfterValidator(_without_c0_controls)]
"""A string of the credential: no C0 control characters other than tab, LF and CR."""
Name = Annotated[Text, Field(min_length=1, max_length=500)]
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
WINDOW_ORDER = "valid_until must be after valid_from (default: now)"


class CompetencyIn(BaseModel):
    """One competency the credential certifies, optionally aligned to a framework."""

    model_config = STRICT

    name: Name
    framework_url: Text | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    code: Text | None = Field(default=None, min_length=1, max_length=100)


Url = Annotated[Text, Field(max_length=2000, pattern=r"^https?://\S+$")]
Identifier = Annotated[Text, Field(min_length=1, max_length=2000, pattern=r"^\S+$")]


class OrganisationIn(BaseModel):
    """An accreditor or industry partner: an identifier (URL or DID) and a name."""

    model_config = STRICT

    id: Identifier
    name: Name | None = None
    url: Url | None = None


class AccreditationIn(BaseModel):
    """Quality assurance of the program: who accredits it, and its record there."""

    model_config = STRICT

    accreditor: OrganisationIn
    id: Identifier | None = None
    name: Name | None = None
    url: Url | None = None


class AssessmentIn(BaseModel):
    """How learners were assessed."""

    model_config = STRICT

    description: Annotated[Text, Field(min_length=1, max_length=5000)]
    type: Annotated[Text, Field(min_length=1, max_length=200)] | None = None


class AchievementIn(BaseModel):
    """The achievement: what was learnt, how long it took, how it was delivered."""

    model_config = STRICT

    name: Name
    description: Text | None = Field(default=None, min_length=1, max_length=5000)
    achievement_type: OB_ACHIEVEMENT_TYPES | ExtensionType = "MicroCredential"
    competencies: list[CompetencyIn] = Field(min_length=1, max_length=100)
    hours: Decimal | None = Field(default=None, gt=0, le=10_000, decimal_places=2)
    delivery_mode: DeliveryModeIn | None = None
    # The quality markers employers look for (the extension context https://w3id.org/credreg/v1).
    assessment: AssessmentIn | None = None
    accreditations: list[AccreditationIn] = Field(default=[], max_length=20)
    industry_partners: list[OrganisationIn] = Field(default=[], max_length=50)

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
        # Structural only: "now" is not a property of the request. Without `valid_from` the
        # window starts when the credential is issued; `window_errors` checks that, where a new
        # credential is issued, after the Idempotency-Key lookup (a retry after `valid_until`
        # must still get the credential its first attempt issued).
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until <= self.valid_from
        ):
            raise ValueError(WINDOW_ORDER)
        return self

    @property
    def holder_is_did(self) -> bool:
        """Whether the holder is identified by a DID (else by a salted hash of the id)."""
        return self.holder_id.startswith("did:")

    def digest(self) -> str:
        """A digest of the command, to refuse an idempotency key reused for another request.

        Fields left at their defaults are left out, so that a new optional field does not
        change the digest of requests stored before it (their retries would get a 409).
        """
        return hashlib.sha256(self.model_dump_json(exclude_defaults=True).encode()).hexdigest()

    def is_digested_as(self, stored: str) -> bool:
        """Whether `stored` is this command's digest (or its digest before defaults were left
        out, for the records stored then)."""
        if stored == self.digest():
            return True
        return stored == hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class IssuanceError(BaseModel):
    """Why one issuance request was refused: the field (dotted path) and a message."""

    model_config = ConfigDict(frozen=True)

    field: str
    """Where in the request, e.g. ``achievement.competencies.0.name`` ("" for the whole)."""
    message: str


def issuance_errors(error: ValidationError, *, prefix: str = "") -> list[IssuanceError]:
    """A validation error as one `IssuanceError` per problem, fields as dotted paths."""
    return [
        IssuanceError(
            field=".".join([*([prefix] if prefix else []), *(str(part) for part in e["loc"])]),
            message=e["msg"],
        )
        for e in error.errors(include_url=False)
    ]


def validate_command(data: object, *, prefix: str = "") -> IssueCredential | list[IssuanceError]:
    """The command in `data`, or why it is not one (fields under `prefix`; never raises).

    Time-free: whether a new credential may still be issued now is `window_errors`.
    """
    try:
        return IssueCredential.model_validate(data)
    except ValidationError as error:
        return issuance_errors(error, prefix=prefix)


def window_errors(
    command: IssueCredential, *, now: datetime, prefix: str = ""
) -> list[IssuanceError]:
    """Why a *new* credential for `command` cannot be issued at `now` (none: it can).

    Without `valid_from` the window opens at issuance, so a `valid_until` at or before `now`
    leaves it empty. Apply it only when no credential was issued for the request before: a
    retry whose `valid_until` has passed since must get the credential of its first attempt.
    The error reads as the model's own validation errors did when this check was one of them.
    """
    if command.valid_from is None and command.valid_until is not None:
        if command.valid_until <= now:
            return [IssuanceError(field=prefix, message=f"Value error, {WINDOW_ORDER}")]
    return []
