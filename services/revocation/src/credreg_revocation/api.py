"""The revocation service's HTTP routes: thin, the work is in revoking.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from credreg_revocation.revoking import RevocationRequest, Revoker
from credreg_shared.auth import CallingInstitution

router = APIRouter(prefix="/v1")


def revoker(request: Request) -> Revoker:
    """The use case object the lifespan attached to the app."""
    found: Revoker = request.app.state.revoker
    return found


@router.post(
    "/credentials/{credential_id}/revocation", status_code=202, summary="Revoke a credential"
)
async def revoke_credential(
    credential_id: str,
    body: RevocationRequest,
    use_case: Annotated[Revoker, Depends(revoker)],
    caller: CallingInstitution,
) -> dict[str, Any]:
    """Publishes `credential.revoked` before answering 202."""
    return await use_case.revoke(credential_id, body, institution=caller)
