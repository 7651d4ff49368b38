"""The issuer's HTTP routes: thin; the work is in use_cases.py."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel

from credreg_issuer.domain import IdempotencyKeyReused, IssueCredential
from credreg_issuer.use_cases import IssueCredentials
from credreg_shared.auth import CallingInstitution
from credreg_shared.events import models
from credreg_shared.web import problem_responses, use_case

TITLE = "credreg issuer"
DESCRIPTION = "Registrars issue Open Badges 3.0 micro-credentials; each one is an event."
router = APIRouter(prefix="/v1", tags=["issuance"])

ERROR_STATUSES: dict[type[Exception], int] = {IdempotencyKeyReused: 409}


class IssuedCredential(BaseModel):
    """The issued credential, its holder and issuer, and the id of its `credential.issued`."""

    id: str
    issuer_id: str
    holder_id: str
    event_id: str
    credential: dict[str, Any]


@router.post(
    "/credentials",
    status_code=201,
    responses=problem_responses(
        {
            401: "Missing or unknown API key",
            409: "The Idempotency-Key was first used for a different request",
            422: "The body or a header is not valid",
            503: "The event log or database did not answer; nothing was issued, retry later",
        }
    ),
    summary="Issue one credential",
)
async def issue_credential(
    body: IssueCredential,
    request: Request,
    response: Response,
    issue: Annotated[IssueCredentials, Depends(use_case(IssueCredentials))],
    caller: CallingInstitution,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> IssuedCredential:
    """Publishes `credential.issued` and answers 201 once the event log acknowledged it.

    The same `Idempotency-Key` from the same institution answers the same credential again
    without issuing another one.
    """
    envelope = await issue.handle(body, institution=caller, idempotency_key=idempotency_key)
    issued = envelope.data_as(models.CredentialIssued)
    base = request.app.state.credentials_url.rstrip("/")
    response.headers["Location"] = f"{base}/{quote(issued.credential_id, safe=':')}"
    return IssuedCredential(
        id=issued.credential_id,
        issuer_id=issued.issuer_id,
        holder_id=issued.holder_id,
        event_id=envelope.id,
        credential=issued.credential,
    )
