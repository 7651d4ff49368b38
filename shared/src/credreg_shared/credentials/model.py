"""VC 2.0 + Open Badges 3.0 `AchievementCredential` carrying micro-credential metadata."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .data_integrity import format_datetime
from .document_loader import CREDENTIALS_V2_URL, MICROCREDENTIAL_V1_URL, OPEN_BADGES_V3_URL

ACHIEVEMENT_CREDENTIAL_SCHEMA_URL = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
)
DEFAULT_CONTEXT = (CREDENTIALS_V2_URL, OPEN_BADGES_V3_URL, MICROCREDENTIAL_V1_URL)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment


DateTime = Annotated[
    datetime, AfterValidator(_aware), PlainSerializer(format_datetime, return_type=str)
]
# Hours as an xsd:decimal string: JSON floats would canonicalise differently across processors.
Hours = Annotated[
    Decimal, Field(ge=0, max_digits=8, decimal_places=2), PlainSerializer(str, return_type=str)
]
DeliveryMode = Literal["online", "in-person", "blended"]
# OB's IdentifierTypeEnum values we use; student numbers need the schema's `ext:` extension form.
IdentityType = Literal["emailAddress", "sisSourcedId", "identifier", "ext:studentNumber"]


def _type(name: str) -> Any:
    """A ``type`` default: a new one-name list per model (a list default is deep-copied each
    time, which took a tenth of building a credential)."""
    return Field(default_factory=lambda: [name])


def _empty(value: list[Any] | None) -> bool:
    """Whether a list field is left out of the document (empty lists are never written)."""
    return not value


def _list() -> Any:
    """An optional list's default: a new empty list per model, left out of the document."""
    return Field(default_factory=list, exclude_if=_empty)


class CredentialModel(BaseModel):
    """Base for credential parts: frozen, camelCase JSON names, no unknown fields."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Profile(CredentialModel):
    """An issuer, accreditor or industry partner (OB `Profile`)."""

    id: str
    type: list[Literal["Profile"]] = _type("Profile")
    name: str | None = None
    url: str | None = None
    description: str | None = None


class Alignment(CredentialModel):
    """One competency the achievement certifies, aligned to a framework (OB `Alignment`)."""

    type: list[Literal["Alignment"]] = _type("Alignment")
    target_name: str
    target_url: str
    target_type: str = "ceasn:Competency"
    target_framework: str | None = None
    target_code: str | None = None
    target_description: str | None = None


class Criteria(CredentialModel):
    """How the achievement is earned (OB `Criteria`)."""

    id: str | None = None
    narrative: str | None = None


class AssessmentMethod(CredentialModel):
    """How learners were assessed (credreg extension)."""

    type: list[Literal["AssessmentMethod"]] = _type("AssessmentMethod")
    assessment_type: str | None = None
    description: str


class Accreditation(CredentialModel):
    """Quality assurance of the program (credreg extension)."""

    id: str | None = None
    """The accreditation's own identifier (the accreditor's record of it), when it has one."""
    type: list[Literal["Accreditation"]] = _type("Accreditation")
    accreditor: Profile
    name: str | None = None
    url: str | None = None


class Pathway(CredentialModel):
    """A larger credential this one stacks into (credreg extension)."""

    id: str
    type: list[Literal["Pathway"]] = _type("Pathway")
    name: str


class Achievement(CredentialModel):
    """What was achieved: OB fields first, micro-credential metadata from our context."""

    id: str
    type: list[Literal["Achievement"]] = _type("Achievement")
    achievement_type: str = "MicroCredential"
    name: str
    description: str
    criteria: Criteria
    alignment: list[Alignment] = _list()
    learning_hours: Hours | None = None
    delivery_mode: DeliveryMode | None = None
    assessment: AssessmentMethod | None = None
    accreditation: list[Accreditation] = _list()
    industry_partner: list[Profile] = _list()
    stacks_into: list[Pathway] = _list()


class IdentityObject(CredentialModel):
    """A salted hash of a learner identifier (OB `IdentityObject`), never the plain value."""

    type: Literal["IdentityObject"] = "IdentityObject"
    hashed: Literal[True] = True
    identity_hash: str = Field(pattern=r"^sha256\$[0-9a-f]{64}$")
    identity_type: IdentityType
    salt: str


def hashed_identifier(
    value: str,
    *,
    identity_type: IdentityType,
    salt: str | None = None,
) -> IdentityObject:
    """Hash a learner identifier as OB does: SHA-256 of the value followed by a random salt."""
    salt = salt if salt is not None else secrets.token_hex(16)
    # E-mail addresses are case-insensitive in practice; hash one spelling of them.
    normalised = value.strip().lower() if identity_type == "emailAddress" else value.strip()
    digest = hashlib.sha256((normalised + salt).encode("utf-8")).hexdigest()
    return IdentityObject(identity_hash=f"sha256${digest}", identity_type=identity_type, salt=salt)


class AchievementSubject(CredentialModel):
    """The learner: a DID when they have one, else salted-hash identifiers."""

    id: str | None = None
    type: list[Literal["AchievementSubject"]] = _type("AchievementSubject")
    identifier: list[IdentityObject] | None = Field(default=None, exclude_if=_empty)
    achievement: Achievement

    @model_validator(mode="after")
    def _has_holder(self) -> AchievementSubject:
        if self.id is None and not self.identifier:
            raise ValueError("a subject needs a DID `id` or a hashed `identifier`")
        if self.id is not None and not self.id.startswith("did:"):
            raise ValueError("a subject `id` must be a DID")
        return self


class CredentialSchema(CredentialModel):
    """Points verifiers at the OB 3.0 JSON Schema the credential conforms to."""

    id: str = ACHIEVEMENT_CREDENTIAL_SCHEMA_URL
    # "JsonSchema" is defined by the VC 2.0 context; 1EdTech's own validator type is not in any
    # context, so it would expand to a relative IRI that strict verifiers reject.
    type: Literal["JsonSchema"] = "JsonSchema"


class StatusEntry(CredentialModel):
    """A `BitstringStatusListEntry` (see `status_list.status_list_entry`)."""

    id: str
    type: Literal["BitstringStatusListEntry"] = "BitstringStatusListEntry"
    status_purpose: Literal["revocation", "suspension"]
    status_list_index: str = Field(pattern=r"^\d+$")
    status_list_credential: str


class AchievementCredential(CredentialModel):
    """An unsigned OB 3.0 `AchievementCredential`; `to_document()` gives the JSON to sign."""

    context: tuple[str, ...] = Field(default=DEFAULT_CONTEXT, alias="@context")
    id: str
    type: list[Literal["VerifiableCredential", "AchievementCredential"]] = [
        "VerifiableCredential",
        "AchievementCredential",
    ]
    name: str
    description: str | None = None
    issuer: Profile
    valid_from: DateTime
    valid_until: DateTime | None = None
    credential_subject: AchievementSubject
    # VC 2.0 allows several entries, but this OB 3.0 schema build wants one object: a single
    # entry is written as an object (schema-valid), two (revocation + suspension) as an array.
    credential_status: list[StatusEntry] = _list()
    credential_schema: list[CredentialSchema] = Field(default_factory=lambda: [CredentialSchema()])

    @model_validator(mode="after")
    def _window_is_ordered(self) -> AchievementCredential:
        if self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValueError("validUntil must be after validFrom")
        return self

    def to_document(self) -> dict[str, Any]:
        """Return the JSON-LD document (camelCase keys, no empty optional fields)."""
        document: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if len(self.credential_status) == 1:
            document["credentialStatus"] = document["credentialStatus"][0]
        return document
