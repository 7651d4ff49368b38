"""The registry's HTTP routes: thin, the work is in queries.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from credreg_registry.queries import CredentialQueries
from credreg_shared.web import ProblemError

router = APIRouter(prefix="/v1")


def queries(request: Request) -> CredentialQueries:
    """The queries object the lifespan attached to the app."""
    found: CredentialQueries = request.app.state.queries
    return found


Queries = Annotated[CredentialQueries, Depends(queries)]


@router.get("/credentials/{credential_id}", summary="A credential with its current status")
async def get_credential(credential_id: str, view: Queries) -> dict[str, Any]:
    """One credential as the registry knows it."""
    found = await view.credential(credential_id)
    if found is None:
        raise ProblemError(404, detail=f"no credential {credential_id!r} in the registry")
    return found


@router.get("/holders/{holder_id}/credentials", summary="A holder's portfolio")
async def get_portfolio(holder_id: str, view: Queries) -> dict[str, Any]:
    """Every credential of one holder (an empty list for an unknown holder)."""
    return {"holder_id": holder_id, "credentials": await view.portfolio(holder_id)}


@router.get("/stats", summary="How many credentials the view holds")
async def get_stats(view: Queries) -> dict[str, Any]:
    """Counts of issued credentials, in all and by status."""
    return await view.counts()
