"""The issuer's HTTP routes: thin, the work is in service.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from credreg_issuer.requests import IssueRequest
from credreg_issuer.service import IssuerService
from credreg_shared.auth import CallingInstitution

router = APIRouter(prefix="/v1")


def issuer_service(request: Request) -> IssuerService:
    """The service object the lifespan attached to the app."""
    found: IssuerService = request.app.state.issuer
    return found


@router.post("/credentials", status_code=201, summary="Issue one credential")
async def issue_credential(
    body: IssueRequest,
    service: Annotated[IssuerService, Depends(issuer_service)],
    caller: CallingInstitution,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Sign-ready OB 3.0 credential, published as `credential.issued` before the 201."""
    return await service.issue(body, institution=caller, idempotency_key=idempotency_key)
