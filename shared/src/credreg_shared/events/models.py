"""The `data` of every credreg event: frozen pydantic models, one per versioned CloudEvents type.

Each model names its type (``event_type``), its topic, the CloudEvents ``subject`` and the Kafka
record key it is published under. A change that would break a consumer is a new model with a new
type version (``.v2``) plus an upcaster in :mod:`credreg_shared.events.upcasters`, never an edit.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, model_validator

from credreg_shared.events import topics
from credreg_shared.issuance import IssuanceError

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]


class EventData(BaseModel):
    """Base of every event's `data`: frozen, versioned by its CloudEvents type string."""

    # Unknown fields are ignored so that adding an optional field stays a compatible change.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[str]

    def event_subject(self) -> str:
        """The CloudEvents ``subject`` of an event carrying this data."""
        raise NotImplementedError

    def record_key(self) -> str:
        """The Kafka record key this data is published under (decides partition and order)."""
        return self.event_subject()


class Competency(BaseModel):
    """One competency a credential certifies (an OB 3.0 ``alignment`` entry, summarised)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: NonEmptyStr
    url: str | None = None
    framework: str | None = None
    code: str | None = None


class CredentialEvent(EventData):
    """Base of credential lifecycle events: on the credentials topic, keyed by credential id."""

    topic: ClassVar[str] = topics.CREDENTIALS_TOPIC

    credential_id: NonEmptyStr
    issuer_id: NonEmptyStr
    holder_id: NonEmptyStr

    def event_subject(self) -> str:
        """The credential id."""
        return self.credential_id


class CredentialIssued(CredentialEvent):
    """A credential was signed and issued; carries the full VC document and a registry summary."""

    event_type: ClassVar[str] = topics.CREDENTIAL_ISSUED_V1

    achievement_id: NonEmptyStr
    achievement_name: NonEmptyStr
    achievement_type: str | None = None
    competencies: tuple[Competency, ...] = ()
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    credential: dict[str, Any]

    @model_validator(mode="after")
    def _validity_window_is_ordered(self) -> Self:
        if self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


REVOCATION_REASON_SUPERSEDED = "superseded"
"""Revocation reason used when a newer credential replaces this one (see ``superseded_by``)."""


class CredentialRevoked(CredentialEvent):
    """A credential was revoked for good, optionally superseded by a replacement credential."""

    event_type: ClassVar[str] = topics.CREDENTIAL_REVOKED_V1

    reason: NonEmptyStr
    superseded_by: NonEmptyStr | None = None


class CredentialSuspended(CredentialEvent):
    """A credential was suspended (temporarily invalid until reinstated)."""

    event_type: ClassVar[str] = topics.CREDENTIAL_SUSPENDED_V1

    reason: str | None = None


class CredentialReinstated(CredentialEvent):
    """A suspended credential was reinstated (valid again)."""

    event_type: ClassVar[str] = topics.CREDENTIAL_REINSTATED_V1

    reason: str | None = None


class Renewal(BaseModel):
    """How a holder renews an achievement: where to go, and what to do (set by its issuer)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: NonEmptyStr
    text: NonEmptyStr


class CredentialExpired(CredentialEvent):
    """A credential passed its ``validUntil``."""

    event_type: ClassVar[str] = topics.CREDENTIAL_EXPIRED_V1

    valid_until: AwareDatetime
    renewal: Renewal | None = None


class CredentialExpiring(CredentialEvent):
    """A credential will expire soon (advance notice to holders and wallets)."""

    event_type: ClassVar[str] = topics.CREDENTIAL_EXPIRING_V1

    valid_until: AwareDatetime
    lead_days: int | None = None
    """The issuer's lead time that this notice keeps (it may have several, e.g. 60 and 7)."""
    renewal: Renewal | None = None


class PathwayDefined(EventData):
    """An issuer defined (or redefined) a stackable pathway: these achievements add up to one."""

    event_type: ClassVar[str] = topics.PATHWAY_DEFINED_V1
    topic: ClassVar[str] = topics.PATHWAYS_TOPIC

    pathway_id: NonEmptyStr
    issuer_id: NonEmptyStr
    name: NonEmptyStr
    required_achievement_ids: tuple[NonEmptyStr, ...]
    award_achievement_id: NonEmptyStr | None = None
    required_count: int | None = None
    """"N of M": how many of the achievements complete it (None: all of them)."""
    award: dict[str, Any] | None = None
    """The stacked credential to award on completion: an issuance command
    (`credreg_shared.issuance.IssueCredential`) without its ``holder_id`` (None: no award)."""

    @model_validator(mode="after")
    def _requires_something(self) -> Self:
        if not self.required_achievement_ids:
            raise ValueError("a pathway requires at least one achievement")
        total = len(set(self.required_achievement_ids))
        if self.required_count is not None and not 1 <= self.required_count <= total:
            raise ValueError("required_count must be between 1 and the number of achievements")
        return self

    @property
    def needed(self) -> int:
        """How many of the achievements complete the pathway."""
        return self.required_count or len(set(self.required_achievement_ids))

    def event_subject(self) -> str:
        """The pathway id."""
        return self.pathway_id


class PathwayCompleted(EventData):
    """A holder holds active credentials for as many of a pathway's achievements as it requires
    (published once per holder and pathway, with an id derived from both)."""

    event_type: ClassVar[str] = topics.PATHWAY_COMPLETED_V1
    topic: ClassVar[str] = topics.PATHWAYS_TOPIC

    pathway_id: NonEmptyStr
    issuer_id: NonEmptyStr
    holder_id: NonEmptyStr
    credential_ids: tuple[NonEmptyStr, ...]
    award_achievement_id: NonEmptyStr | None = None
    award: dict[str, Any] | None = None
    """The pathway's stacked credential as defined (an issuance command without its
    ``holder_id``): the issuer awards it to ``holder_id`` once (None: no award)."""

    def event_subject(self) -> str:
        """The pathway id."""
        return self.pathway_id

    def record_key(self) -> str:
        """The holder id: one holder's pathway events stay in order."""
        return self.holder_id


class ApiKeyEvent(EventData):
    """Base of an institution's API-key events: the services that take institution keys (the
    issuer keeps them; the revocation service follows them) learn them from the log."""

    topic: ClassVar[str] = topics.INSTITUTIONS_TOPIC

    institution_id: NonEmptyStr
    key_id: NonEmptyStr
    digest: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    """The SHA-256 of the key, hex: never the key itself."""

    def event_subject(self) -> str:
        """The institution id."""
        return self.institution_id


class ApiKeyIssued(ApiKeyEvent):
    """An institution got an API key with these scopes (`issue`, `revoke`, `read`)."""

    event_type: ClassVar[str] = topics.API_KEY_ISSUED_V1

    scopes: tuple[NonEmptyStr, ...]


class ApiKeyRevoked(ApiKeyEvent):
    """An institution's API key was revoked: every service refuses it from now on."""

    event_type: ClassVar[str] = topics.API_KEY_REVOKED_V1


RequestId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class IssuanceRequested(EventData):
    """A registrar system asks for one credential over Kafka, on its institution's own topic
    (`topics.issuance_requests_topic`); the request id is the idempotency key.

    `credential` is the issuance command (`credreg_shared.issuance.IssueCredential`), kept as
    JSON here so that an invalid command still parses and gets a rejected result.
    """

    event_type: ClassVar[str] = topics.ISSUANCE_REQUESTED_V1
    topic: ClassVar[str] = topics.ISSUANCE_REQUESTS_TOPIC

    request_id: RequestId
    institution_id: NonEmptyStr
    credential: dict[str, Any]

    def event_subject(self) -> str:
        """The request id."""
        return self.request_id


class IssuanceResult(EventData):
    """The issuer's answer to an issuance request: accepted with the credential (whose
    `credential.issued` is on the log already), or rejected with the reasons."""

    event_type: ClassVar[str] = topics.ISSUANCE_RESULT_V1
    topic: ClassVar[str] = topics.ISSUANCE_RESULTS_TOPIC

    request_id: RequestId
    institution_id: str
    status: Literal["accepted", "rejected"]
    credential_id: str | None = None
    issued_event_id: str | None = None
    errors: tuple[IssuanceError, ...] = ()

    def event_subject(self) -> str:
        """The request id."""
        return self.request_id


EVENT_MODELS: Mapping[str, type[EventData]] = MappingProxyType(
    {
        model.event_type: model
        for model in (
            CredentialIssued,
            CredentialRevoked,
            CredentialSuspended,
            CredentialReinstated,
            CredentialExpired,
            CredentialExpiring,
            PathwayDefined,
            PathwayCompleted,
            ApiKeyIssued,
            ApiKeyRevoked,
            IssuanceRequested,
            IssuanceResult,
        )
    }
)
"""Every current event type string → the model of its ``data``."""
