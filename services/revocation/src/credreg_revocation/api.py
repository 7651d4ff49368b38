"""The revocation service's HTTP routes: thin; the work is in handlers.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from credreg_revocation.domain import (
    REINSTATEMENT,
    REVOCATION,
    SUSPENSION,
    RefusedChange,
)
from credreg_revocation.handlers import ChangeStatus, StatusChanges
from credreg_shared.auth import CallingInstitution
from credreg_shared.web import Problem, ProblemError

router = APIRouter(prefix="/v1", tags=["lifecycle"])
Reason = Annotated[str, Field(min_length=1, max_length=500)]
REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in {
        401: "Missing or unknown API key",
        403: "The credential belongs to another institution; nothing changed",
        404: "The credential is not known to this service (yet)",
        409: "The credential's status does not allow this change",
        503: "The event log did not acknowledge; nothing changed, retry later",
    }.items()
}


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


def status_changes(request: Request) -> StatusChanges:
    """The use case the composition root attached to the app."""
    found: StatusChanges = request.app.state.status_changes
    return found


StatusChangesDependency = Annotated[StatusChanges, Depends(status_changes)]


async def change(use_case: StatusChanges, command: ChangeStatus) -> StatusChangeAccepted:
    """Run the command; a refusal becomes its problem+json answer."""
    try:
        changed = await use_case.handle(command)
    except RefusedChange as refused:
        raise ProblemError(refused.status, detail=str(refused)) from refused
    return StatusChangeAccepted(
        id=changed.credential_id, status=changed.status, event_id=changed.event_id
    )


@router.post(
    "/credentials/{credential_id}/revocation",
    status_code=202,
    responses=REFUSALS,
    summary="Revoke a credential for good",
)
async def revoke(
    credential_id: str,
    body: RevocationRequest,
    use_case: StatusChangesDependency,
    caller: CallingInstitution,
) -> StatusChangeAccepted:
    """Publishes `credential.revoked` and answers once the event log acknowledged it."""
    revocation = ChangeStatus(
        credential_id,
        caller,
        REVOCATION,
        reason=body.reason,
        superseded_by=body.superseded_by,
    )
    return await change(use_case, revocation)


@router.post(
    "/credentials/{credential_id}/suspension",
    status_code=202,
    responses=REFUSALS,
    summary="Suspend an active credential",
)
async def suspend(
    credential_id: str,
    use_case: StatusChangesDependency,
    caller: CallingInstitution,
    body: StatusRequest | None = None,
) -> StatusChangeAccepted:
    """Publishes `credential.suspended` and answers once the event log acknowledged it."""
    reason = body.reason if body else None
    return await change(use_case, ChangeStatus(credential_id, caller, SUSPENSION, reason=reason))


@router.post(
    "/credentials/{credential_id}/reinstatement",
    status_code=202,
    responses=REFUSALS,
    summary="Reinstate a suspended credential",
)
async def reinstate(
    credential_id: str,
    use_case: StatusChangesDependency,
    caller: CallingInstitution,
    body: StatusRequest | None = None,
) -> StatusChangeAccepted:
    """Publishes `credential.reinstated` and answers once the event log acknowledged it."""
    reason = body.reason if body else None
    reinstatement = ChangeStatus(credential_id, caller, REINSTATEMENT, reason=reason)
    return await change(use_case, reinstatement)
