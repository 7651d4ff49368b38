"""The revocation service's HTTP routes: thin; the work is in use_cases.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from credreg_revocation.domain import (
    REINSTATEMENT,
    REVOCATION,
    SUSPENSION,
    ChangeStatus,
    InvalidReplacement,
    NotTheIssuer,
    ReplacementConflict,
    ReplacementForbidden,
    ReplacementRefused,
    Transition,
    TransitionNotAllowed,
    UnknownCredential,
)
from credreg_revocation.expiry import MAX_LEAD_DAYS
from credreg_revocation.scheduling import ExpiryPolicy
from credreg_revocation.supersession import Reissue, Supersessions
from credreg_revocation.use_cases import StatusChanges
from credreg_shared.errors import DomainError, Unavailable
from credreg_shared.events.models import Renewal
from credreg_shared.issuance import IssueCredential
from credreg_shared.web import problem_responses, use_case
from credreg_shared.web.security import CallingInstitution


class NoRenewal(DomainError):
    """The achievement has no renewal instructions."""


ERROR_STATUSES: dict[type[Exception], int] = {
    NoRenewal: 404,
    UnknownCredential: 404,
    NotTheIssuer: 403,
    TransitionNotAllowed: 409,
    InvalidReplacement: 422,
    ReplacementRefused: 422,
    ReplacementConflict: 409,
    ReplacementForbidden: 403,
    # The issuer did not answer, or its replacement is not read from the log yet.
    Unavailable: 503,
}
"""How each refusal of the domain answers over HTTP (the chassis adds 503 for outages)."""

TITLE = "credreg revocation"
DESCRIPTION = "Issuers revoke, suspend and reinstate credentials; every view hears of it."
router = APIRouter(prefix="/v1", tags=["lifecycle"])
Reason = Annotated[str, Field(min_length=1, max_length=500)]
StatusChangesDependency = Annotated[StatusChanges, Depends(use_case(StatusChanges))]
ExpiryPolicyDependency = Annotated[ExpiryPolicy, Depends(use_case(ExpiryPolicy))]
REFUSALS = problem_responses(
    {
        401: "Missing or unknown API key",
        403: "The credential belongs to another institution; nothing changed",
        404: "The credential is not known to this service (yet)",
        409: "The credential's status does not allow this change",
        503: "The event log did not acknowledge (or the database did not answer); "
        "no change is confirmed, retry later",
    }
)


class RevocationRequest(BaseModel):
    """Why the credential is revoked, and which credential replaces it (when superseded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Reason
    superseded_by: Reason | None = None


class StatusRequest(BaseModel):
    """An optional reason for a suspension or reinstatement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Reason | None = None


class StatusChangeAccepted(BaseModel):
    """The change is in the event log: the credential, its new status and the event's id."""

    id: str
    status: str
    event_id: str


async def accepted(changes: StatusChanges, command: ChangeStatus) -> StatusChangeAccepted:
    """Run the command; its refusals leave as domain errors, which the chassis answers."""
    changed = await changes.handle(command)
    return StatusChangeAccepted(
        id=changed.credential_id, status=changed.status, event_id=changed.event_id
    )


def acknowledged(transition: Transition) -> str:
    """A route's description: the event it publishes, and when it answers."""
    return (
        f"Publishes `{transition.event.event_type}` and answers once the event log acknowledged it."
    )


@router.post(
    f"/credentials/{{credential_id}}/{REVOCATION.name}",
    status_code=202,
    responses=REFUSALS,
    summary="Revoke a credential for good",
    description=acknowledged(REVOCATION),
)
async def revoke(
    credential_id: str,
    body: RevocationRequest,
    changes: StatusChangesDependency,
    caller: CallingInstitution,
) -> StatusChangeAccepted:
    """Revoke: a reason is required; `superseded_by` names the replacing credential."""
    revocation = ChangeStatus(
        credential_id, caller, REVOCATION, reason=body.reason, superseded_by=body.superseded_by
    )
    return await accepted(changes, revocation)


def add_status_route(transition: Transition, *, name: str, summary: str) -> None:
    """Add the route of a change whose body is an optional reason, or none at all."""

    async def change_status(
        credential_id: str,
        changes: StatusChangesDependency,
        caller: CallingInstitution,
        body: StatusRequest | None = None,
    ) -> StatusChangeAccepted:
        reason = body.reason if body else None
        return await accepted(
            changes, ChangeStatus(credential_id, caller, transition, reason=reason)
        )

    router.add_api_route(
        f"/credentials/{{credential_id}}/{transition.name}",
        change_status,
        methods=["POST"],
        status_code=202,
        responses=REFUSALS,
        summary=summary,
        description=acknowledged(transition),
        # The name keeps each route's OpenAPI operation id (suspend_…, reinstate_…).
        name=name,
    )


class SupersessionRequest(BaseModel):
    """The replacement to issue (same holder), and why the old credential is revoked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replacement: IssueCredential
    reason: Reason = "superseded"


class Replacement(BaseModel):
    """The replacement credential as the issuer issued it."""

    id: str
    event_id: str
    credential: dict[str, Any]


class SupersessionAccepted(BaseModel):
    """The replacement, active, and the old credential's revocation naming it (absent when an
    earlier attempt of the same request revoked it already)."""

    replacement: Replacement
    revocation: StatusChangeAccepted | None


@router.post(
    "/credentials/{credential_id}/supersession",
    status_code=201,
    responses={
        **REFUSALS,
        **problem_responses(
            {
                403: "The credential is another institution's, or the key may not issue",
                409: "The credential's status does not allow revocation, or it was superseded "
                "by a different replacement",
                422: "The replacement is invalid or for another holder; nothing was issued",
                503: "The issuer, the event log or the database did not answer, or the "
                "replacement is not read from the log yet: retry the same request",
            }
        ),
    },
    summary="Reissue a credential and revoke the old one as superseded by it",
    description="Issues the replacement through the issuer (with the caller's key, which "
    "needs the `issue` scope too), waits until it is active here, then publishes "
    f"`{REVOCATION.event.event_type}` with `superseded_by`. Retrying the same request issues "
    "nothing twice.",
)
async def supersede(
    credential_id: str,
    body: SupersessionRequest,
    request: Request,
    supersessions: Annotated[Supersessions, Depends(use_case(Supersessions))],
    caller: CallingInstitution,
) -> SupersessionAccepted:
    """Reissue, then revoke: the replacement is in force before the old one leaves."""
    done = await supersessions.reissue(
        Reissue(
            credential_id,
            caller,
            body.replacement,
            authorization=request.headers.get("authorization", ""),
            reason=body.reason,
        )
    )
    revocation = (
        StatusChangeAccepted(
            id=done.revocation.credential_id,
            status=done.revocation.status,
            event_id=done.revocation.event_id,
        )
        if done.revocation
        else None
    )
    return SupersessionAccepted(
        replacement=Replacement(
            id=done.replacement_id, event_id=done.replacement_event_id, credential=done.credential
        ),
        revocation=revocation,
    )


add_status_route(SUSPENSION, name="suspend", summary="Suspend an active credential")
add_status_route(REINSTATEMENT, name="reinstate", summary="Reinstate a suspended credential")


# --- expiry: lead times and renewal instructions ------------------------------------------

SETTING_REFUSALS = problem_responses(
    {401: "Missing or unknown API key", 503: "The database did not answer; retry later"}
)
LeadDays = Annotated[int, Field(ge=1, le=MAX_LEAD_DAYS)]


class LeadTimes(BaseModel):
    """How many days before `validUntil` the holders of this institution's credentials hear
    that they expire (one "expiring" notice per lead time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_days: list[LeadDays] = Field(min_length=1, max_length=5, examples=[[60, 7]])


class RenewalInstructions(BaseModel):
    """Where and how a holder renews an achievement; sent with its expiry notices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(max_length=2000, pattern=r"^https://\S+$")]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


@router.get(
    "/expiry-policy",
    responses=SETTING_REFUSALS,
    summary="The calling institution's lead times (30 days unless it set its own)",
)
async def get_lead_times(policy: ExpiryPolicyDependency, caller: CallingInstitution) -> LeadTimes:
    """The lead times in force for the caller."""
    return LeadTimes(lead_days=list(await policy.lead_days(caller)))


@router.put(
    "/expiry-policy",
    responses=SETTING_REFUSALS,
    summary="Set the calling institution's lead times",
    description="Applies to the credentials recorded from now on; each lead time gives one "
    "`credential.expiring` notice that many days before `validUntil`.",
)
async def set_lead_times(
    body: LeadTimes, policy: ExpiryPolicyDependency, caller: CallingInstitution
) -> LeadTimes:
    """Replace the caller's lead times."""
    return LeadTimes(lead_days=list(await policy.set_lead_days(caller, body.lead_days)))


RENEWAL_PATH = "/achievements/{achievement_id:path}/renewal"


@router.get(
    RENEWAL_PATH,
    responses={
        **SETTING_REFUSALS,
        **problem_responses({404: "The achievement has no renewal instructions"}),
    },
    summary="An achievement's renewal instructions",
)
async def get_renewal(
    achievement_id: str, policy: ExpiryPolicyDependency, caller: CallingInstitution
) -> RenewalInstructions:
    """The instructions the caller attached to one of its achievements."""
    renewal = await policy.renewal(caller, achievement_id)
    if renewal is None:
        raise NoRenewal(f"achievement {achievement_id!r} has no renewal instructions")
    return RenewalInstructions(url=renewal.url, text=renewal.text)


@router.put(
    RENEWAL_PATH,
    responses=SETTING_REFUSALS,
    summary="Attach renewal instructions to an achievement",
    description="`credential.expiring` and `credential.expired` notices of credentials of "
    "this achievement (its id as in `credentialSubject.achievement.id`) carry them.",
)
async def set_renewal(
    achievement_id: str,
    body: RenewalInstructions,
    policy: ExpiryPolicyDependency,
    caller: CallingInstitution,
) -> RenewalInstructions:
    """Attach (or replace) the instructions."""
    await policy.set_renewal(caller, achievement_id, Renewal(url=body.url, text=body.text))
    return body


@router.delete(
    RENEWAL_PATH,
    status_code=204,
    responses=SETTING_REFUSALS,
    summary="Remove an achievement's renewal instructions",
)
async def remove_renewal(
    achievement_id: str, policy: ExpiryPolicyDependency, caller: CallingInstitution
) -> None:
    """Remove them (nothing happens if there were none)."""
    await policy.set_renewal(caller, achievement_id, None)
