"""The registry's HTTP routes: thin; answering is `RegistryQueries`' job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from credreg_registry.domain import CredentialNotFound, CredentialView, Portfolio, Stats
from credreg_registry.use_cases import RegistryQueries
from credreg_shared.web import problem_responses, use_case

TITLE = "credreg registry"
DESCRIPTION = "Portfolios and verification of every credential in the event log."
router = APIRouter(prefix="/v1", tags=["registry"])

ERROR_STATUSES: dict[type[Exception], int] = {CredentialNotFound: 404}

Queries = Annotated[RegistryQueries, Depends(use_case(RegistryQueries))]


@router.get(
    "/credentials/{credential_id}",
    summary="A credential with its current status",
    responses=problem_responses({404: "The registry knows no such credential"}),
)
async def get_credential(credential_id: str, queries: Queries) -> CredentialView:
    """One credential as the registry knows it (ids such as ``urn:uuid:…`` welcome)."""
    return await queries.credential(credential_id)


@router.get("/holders/{holder_id}/credentials", summary="A holder's portfolio")
async def get_portfolio(holder_id: str, queries: Queries) -> Portfolio:
    """Every credential of one holder, oldest first (an empty list for an unknown holder)."""
    return await queries.portfolio(holder_id)


@router.get("/stats", summary="How many credentials the view holds")
async def get_stats(queries: Queries) -> Stats:
    """Counts of issued credentials, in all and by status, and of placeholders."""
    return await queries.stats()
