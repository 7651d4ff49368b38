"""The registry's HTTP routes: thin; reading is the `CredentialReader`'s job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from credreg_registry.ports import CredentialReader
from credreg_registry.views import (
    CredentialView,
    Portfolio,
    Stats,
    credential_view,
    summary,
)
from credreg_shared.web import ProblemError
from credreg_shared.web.problems import Problem

router = APIRouter(prefix="/v1", tags=["registry"])


def reader(request: Request) -> CredentialReader:
    """The reader the composition root attached to the app."""
    found: CredentialReader = request.app.state.reader
    return found


Reader = Annotated[CredentialReader, Depends(reader)]


@router.get(
    "/credentials/{credential_id}",
    summary="A credential with its current status",
    responses={404: {"description": "The registry knows no such credential", "model": Problem}},
)
async def get_credential(credential_id: str, view: Reader) -> CredentialView:
    """One credential as the registry knows it (ids such as ``urn:uuid:…`` welcome)."""
    found = await view.credential(credential_id)
    if found is None:
        raise ProblemError(404, detail=f"no credential {credential_id!r} in the registry")
    return credential_view(found)


@router.get("/holders/{holder_id}/credentials", summary="A holder's portfolio")
async def get_portfolio(holder_id: str, view: Reader) -> Portfolio:
    """Every credential of one holder, oldest first (an empty list for an unknown holder)."""
    documents = await view.holder_credentials(holder_id)
    return Portfolio(holder_id=holder_id, credentials=[summary(d) for d in documents])


@router.get("/stats", summary="How many credentials the view holds")
async def get_stats(view: Reader) -> Stats:
    """Counts of issued credentials, in all and by status, and of placeholders."""
    by_status = await view.count_by_status()
    return Stats(
        credentials=sum(by_status.values()),
        by_status=by_status,
        awaiting_issuance=await view.count_awaiting_issuance(),
    )
