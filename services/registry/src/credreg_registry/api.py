"""The registry's HTTP routes: thin; answering is `RegistryQueries`' job."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from credreg_registry.domain import (
    PORTFOLIO_PAGE,
    SEARCH_PAGE_DEFAULT,
    SEARCH_PAGE_MAX,
    CredentialNotFound,
    CredentialView,
    HolderUnknownToInstitution,
    InvalidCursor,
    NotYourPortfolio,
    PortfolioPage,
    SearchNeedsFilter,
    Stats,
    Verification,
)
from credreg_registry.holder_auth import (
    AuthenticationFailed,
    HolderAuthentication,
    NotADid,
    TokensNotConfigured,
)
from credreg_registry.pathways import (
    InvalidPathway,
    ManagePathways,
    NotYourPathway,
    PathwayDefinition,
    PathwayId,
    PathwayNotFound,
    PathwayProgress,
    PathwayRequest,
)
from credreg_registry.sharing import (
    Consent,
    CreatedShareLink,
    EmployerSearch,
    EmployerSearchPage,
    HolderSharing,
    InvalidFilter,
    NotTheHolders,
    SearchFilters,
    SharedView,
    ShareLink,
    ShareLinkNotFound,
    ShareLinkRequest,
    TooManyShareLinks,
    UnknownCredentials,
)
from credreg_registry.use_cases import PortfolioFilters, RegistryQueries, VerifyCredentials
from credreg_shared.caller_auth import (
    HOLDER_TOKEN,
    Institution,
    KnownCaller,
    institution_only,
    known_caller,
)
from credreg_shared.callers import Caller
from credreg_shared.credentials.document_loader import MICROCREDENTIAL_V1_URL, context_bytes
from credreg_shared.credentials.report import Check
from credreg_shared.web import (
    ProblemError,
    not_modified,
    problem_responses,
    public_cache_headers,
    use_case,
)
from credreg_shared.web.security import INSTITUTION_API_KEY, secured

TITLE = "credreg registry"
DESCRIPTION = "Portfolios, search and verification of every credential in the event log."
v1 = APIRouter(prefix="/v1", tags=["registry"])
contexts = APIRouter(prefix="/contexts", tags=["JSON-LD contexts"])

ERROR_STATUSES: dict[type[Exception], int] = {
    CredentialNotFound: 404,
    InvalidCursor: 400,
    SearchNeedsFilter: 400,
    NotADid: 422,
    AuthenticationFailed: 401,
    TokensNotConfigured: 503,
    NotYourPortfolio: 403,
    HolderUnknownToInstitution: 404,
    ShareLinkNotFound: 404,
    NotTheHolders: 403,
    TooManyShareLinks: 409,
    UnknownCredentials: 422,
    InvalidFilter: 400,
    InvalidPathway: 422,
    NotYourPathway: 403,
    PathwayNotFound: 404,
}

Queries = Annotated[RegistryQueries, Depends(use_case(RegistryQueries))]
Authentication = Annotated[HolderAuthentication, Depends(use_case(HolderAuthentication))]
Verifier = Annotated[VerifyCredentials, Depends(use_case(VerifyCredentials))]
LongCursor = Annotated[
    str | None,
    Query(max_length=1000, description="`next_cursor` of the previous page (another: 400)"),
]
StatusFilter = Literal["active", "suspended", "expired", "revoked"]
Sharing = Annotated[HolderSharing, Depends(use_case(HolderSharing))]
Search = Annotated[EmployerSearch, Depends(use_case(EmployerSearch))]
Pathways = Annotated[ManagePathways, Depends(use_case(ManagePathways))]


async def holder_only(request: Request) -> Caller:
    """The calling holder (401 anonymous, 403 an institution)."""
    caller = await known_caller(request)
    if caller.holder_id is None:
        raise ProblemError(403, detail="this route needs the holder's own token")
    return caller


HolderCaller = Annotated[Caller, Depends(secured(holder_only, HOLDER_TOKEN))]


async def defining_institution(request: Request) -> str:
    """The calling institution, whose key has the `read` scope (every registry route's) and the
    `issue` scope (a pathway may award a credential): 401 anonymous, 403 a holder or a key
    without both."""
    institution = await institution_only(request)
    await request.app.state.authenticate_issue(request)
    return institution


DefiningInstitution = Annotated[str, Depends(secured(defining_institution, INSTITUTION_API_KEY))]


class PortfolioWithPathways(PortfolioPage):
    """A page of a holder's credentials, with the holder's progress along its pathways."""

    pathways: list[PathwayProgress] = Field(
        default_factory=list,
        description='Each pathway the holder has started ("3 of 4", or completed); an '
        "institution sees its own pathways only",
    )


@v1.get(
    "/credentials/{credential_id}",
    summary="A credential with its current status (its holder's and its issuer's)",
    responses=problem_responses(
        {
            401: "No holder token or institution key, or one that does not hold",
            404: "No such credential, or not the caller's (the same answer: existence never leaks)",
        }
    ),
)
async def get_credential(
    credential_id: str, queries: Queries, caller: KnownCaller
) -> CredentialView:
    """One credential as the registry knows it, with the holder id and any reasons: for its
    holder (holder token) and its issuer (API key). Anyone else verifies it through
    `/verification` or `POST /v1/verify`."""
    return await queries.credential(credential_id, caller)


@v1.get(
    "/credentials/{credential_id}/verification",
    summary="Whether a credential is in force now",
    responses=problem_responses({404: "The registry knows no such credential"}),
)
async def get_verification(credential_id: str, queries: Queries) -> Verification:
    """The verifier's lookup: status and validity now, without the credential itself."""
    return await queries.verification(credential_id)


@v1.get(
    "/holders/{holder_id}/credentials",
    summary="A holder's portfolio, a page at a time (the holder's; an institution's own)",
    responses=problem_responses(
        {
            400: "A cursor this registry did not hand out",
            401: "No holder token or institution key, or one that does not hold",
            403: "Another holder's token",
        }
    ),
)
async def get_portfolio(
    holder_id: str,
    queries: Queries,
    caller: KnownCaller,
    pathways: Pathways,
    cursor: LongCursor = None,
    status: Annotated[StatusFilter | None, Query(description="Live status")] = None,
    issuer: Annotated[str | None, Query(max_length=500, description="Issuer DID")] = None,
    achievement_type: Annotated[str | None, Query(max_length=200)] = None,
    competency: Annotated[
        str | None, Query(max_length=2000, description="A competency URL, code or framework")
    ] = None,
    expires_soon: Annotated[
        bool, Query(description="Only credentials with an expiring notice in force")
    ] = False,
    sort: Annotated[
        Literal["oldest", "newest"], Query(description="By the date the registry recorded them")
    ] = "oldest",
    limit: Annotated[int, Query(ge=1, le=PORTFOLIO_PAGE)] = PORTFOLIO_PAGE,
) -> PortfolioWithPathways:
    """Up to `limit` (100) credentials of one holder; follow `next_cursor` for more (unknown:
    empty). The holder sees all of them; an institution only those it issued. With filters or
    newest first, a page looks at 500 credentials at most and may hold fewer than `limit`
    while `next_cursor` is there."""
    filters = PortfolioFilters(
        status=status,
        issuer=issuer,
        achievement_type=achievement_type,
        competency=competency,
        expires_soon=expires_soon,
    )
    page = await queries.portfolio(
        holder_id, caller, cursor, filters, newest_first=sort == "newest", limit=limit
    )
    progress = await pathways.progress(holder_id, institution=caller.institution)
    return PortfolioWithPathways(**page.model_dump(), pathways=progress)


@v1.get(
    "/search",
    summary="Employer search across institutions, over credentials their holders made searchable",
    responses=problem_responses(
        {400: "No filter (a status alone is none), a status that is none, or a foreign cursor"}
    ),
)
async def employer_search(
    search: Search,
    competency: Annotated[
        str | None, Query(max_length=2000, description="A competency URL, code or framework")
    ] = None,
    achievement_type: Annotated[str | None, Query(max_length=200)] = None,
    issuer: Annotated[str | None, Query(max_length=500, description="Issuer DID")] = None,
    min_hours: Annotated[float | None, Query(ge=0, le=100_000)] = None,
    delivery_mode: Annotated[
        str | None, Query(max_length=50, description="online, in-person or blended")
    ] = None,
    competency_based: Annotated[bool, Query(description="Aligned to competencies")] = False,
    accredited: Annotated[bool, Query(description="Carries an accreditation")] = False,
    accredited_by: Annotated[
        str | None, Query(max_length=500, description="The accreditor's id or name")
    ] = None,
    industry_aligned: Annotated[bool, Query(description="Names industry partners")] = False,
    status: Annotated[StatusFilter | None, Query(description="Live status")] = None,
    cursor: LongCursor = None,
    limit: Annotated[int, Query(ge=1, le=SEARCH_PAGE_MAX)] = SEARCH_PAGE_DEFAULT,
) -> EmployerSearchPage:
    """Credentials whose holders consented (`PUT /v1/credentials/{id}/searchable`) that pass
    every filter, with their live status and quality markers, never their holder. A page looks
    at 2,000 postings at most: it may hold fewer than `limit` while `next_cursor` is there."""
    filters = SearchFilters(
        competency=competency,
        achievement_type=achievement_type,
        issuer=issuer,
        min_hours=min_hours,
        delivery_mode=delivery_mode,
        competency_based=competency_based,
        accredited=accredited,
        accredited_by=accredited_by,
        industry_aligned=industry_aligned,
        status=status,
    )
    return await search.search(filters, cursor, limit)


class SearchableRequest(BaseModel):
    """The holder's consent to employer search."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    searchable: bool


@v1.put(
    "/credentials/{credential_id}/searchable",
    summary="The holder's consent to appear in employer search (default: not searchable)",
    responses=problem_responses(
        {
            401: "No holder token, or one that does not hold",
            403: "Not a holder token (an institution cannot consent for its learner)",
            404: "No such credential, or not the holder's",
        }
    ),
)
async def put_searchable(
    credential_id: str, body: SearchableRequest, sharing: Sharing, caller: HolderCaller
) -> Consent:
    """Given, the credential appears in `GET /v1/search` at once; withdrawn, it disappears."""
    return await sharing.set_searchable(credential_id, caller, body.searchable)


@v1.post(
    "/holders/{holder_id}/share-links",
    status_code=201,
    summary="A share link to credentials the holder picks, with an expiry date",
    responses=problem_responses(
        {
            401: "No holder token, or one that does not hold",
            403: "Another holder's token, or not a holder token",
            409: "Already 50 links in force",
            422: "No credentials, more than 20, or one that is not the holder's",
        }
    ),
)
async def create_share_link(
    holder_id: str, body: ShareLinkRequest, sharing: Sharing, caller: HolderCaller
) -> CreatedShareLink:
    """An unguessable link (`url`, shown only now) that opens these credentials, verified live,
    to anyone who has it, until it expires or the holder revokes it."""
    return await sharing.create_link(
        holder_id, caller, body.credential_ids, days=body.expires_in_days, label=body.label
    )


@v1.get(
    "/holders/{holder_id}/share-links",
    summary="The holder's share links (without their secrets)",
    responses=problem_responses(
        {
            401: "No holder token, or one that does not hold",
            403: "Another holder's token, or not a holder token",
        }
    ),
)
async def list_share_links(
    holder_id: str, sharing: Sharing, caller: HolderCaller
) -> list[ShareLink]:
    """Newest first, revoked and expired ones included (`in_force` false)."""
    return await sharing.links(holder_id, caller)


@v1.delete(
    "/holders/{holder_id}/share-links/{link_id}",
    status_code=204,
    summary="Revoke a share link: it answers 404 from now on",
    responses=problem_responses(
        {
            401: "No holder token, or one that does not hold",
            403: "Another holder's token, or not a holder token",
            404: "No such link of this holder",
        }
    ),
)
async def revoke_share_link(
    holder_id: str, link_id: str, sharing: Sharing, caller: HolderCaller
) -> Response:
    """Revoking a revoked link again is no error."""
    await sharing.revoke_link(holder_id, caller, link_id)
    return Response(status_code=204)


@v1.get(
    "/shared/{secret}",
    summary="What a share link shows: the chosen credentials, verified now",
    responses=problem_responses({404: "No such link, or revoked, or expired (one answer)"}),
)
async def open_share_link(secret: str, sharing: Sharing) -> SharedView:
    """Public: whoever has the link sees these credentials as issued, with their live status."""
    return await sharing.open_link(secret)


@v1.get("/stats", summary="How many credentials the view holds")
async def get_stats(queries: Queries) -> Stats:
    """Counts of issued credentials, in all and by status, and of placeholders."""
    return await queries.stats()


MAX_CREDENTIAL_BYTES = 256 * 1024
"""A credential posted to `POST /v1/verify` is a few KB; larger bodies are refused (413)."""


class VerificationAnswer(BaseModel):
    """Every check on the posted credential, and what could not be fetched for them."""

    verified: bool
    credential_id: str | None
    checked_at: datetime
    checks: list[Check]
    fetch_problems: list[str]


@v1.post(
    "/verify",
    summary="Verify a credential: proof, issuer, did:web, status list, validity, OB schema",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses=problem_responses({413: "Larger than 256 KB", 422: "The body is not a JSON object"}),
)
async def verify_credential_route(request: Request, verifier: Verifier) -> VerificationAnswer:
    """The issuer's did:web document and the status lists are fetched as any verifier would;
    a check whose material could not be fetched fails, and `fetch_problems` says why."""
    body = await request.body()
    if len(body) > MAX_CREDENTIAL_BYTES:
        raise ProblemError(413, detail=f"a credential is at most {MAX_CREDENTIAL_BYTES} bytes")
    try:
        credential = json.loads(body)
    except ValueError:
        raise ProblemError(422, detail="the body is not JSON") from None
    if not isinstance(credential, dict):
        raise ProblemError(422, detail="the body must be a credential: a JSON object")
    verified = await verifier.verify(credential)
    report = verified.report
    return VerificationAnswer(
        verified=report.verified,
        credential_id=report.credential_id,
        checked_at=report.checked_at,
        checks=report.checks,
        fetch_problems=verified.fetch_problems,
    )


CONTEXT_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""A published context never changes (a new version gets a new URL), so caches may keep it."""


@contexts.get(
    "/v1",
    summary="credreg's JSON-LD extension context (https://w3id.org/credreg/v1)",
    response_class=Response,
    responses={
        200: {"content": {"application/ld+json": {}}, "description": "The context"},
        304: {"description": "The copy named by If-None-Match is current"},
    },
)
async def get_context_v1(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The extension context, byte for byte the copy credreg signs against."""
    raw, sha256 = context_bytes(MICROCREDENTIAL_V1_URL)
    etag = f'"{sha256}"'
    headers = public_cache_headers(etag, CONTEXT_CACHE_CONTROL)
    if not_modified(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=raw, media_type="application/ld+json", headers=headers)


@v1.put(
    "/pathways/{pathway_id}",
    summary="Define a stackable pathway (the calling institution's)",
    responses=problem_responses(
        {
            401: "No institution key, or one that does not hold",
            403: "A holder token, a key without the read and issue scopes, or another "
            "institution's pathway id",
            422: "No achievement, one this institution never issued, required not between 1 "
            "and their number, or an award that is not a valid issue request",
            503: "The event log did not acknowledge `pathway.defined`: retry the same request",
        }
    ),
)
async def put_pathway(
    pathway_id: Annotated[PathwayId, Path(pattern=r"^[A-Za-z0-9._~:-]+$")],
    body: PathwayRequest,
    pathways: Pathways,
    institution: DefiningInstitution,
) -> PathwayDefinition:
    """Define (or redefine) a pathway: a set of the institution's achievements, all of them or
    `required` of them, and optionally a stacked credential that the issuer awards to each
    holder who completes it. Answered once kept and announced: the holders who hold the
    achievements already are looked for in the background (`backfill`, see `GET`) and complete
    it then; each holder completes a pathway once (`pathway.completed`), whatever happens
    after. A deleted pathway is defined anew (its completions stay)."""
    try:
        return await pathways.define(pathway_id, body, institution=institution)
    except InvalidPathway as refused:
        errors = [e.model_dump() for e in refused.errors]
        raise ProblemError(422, detail=str(refused), extensions={"errors": errors}) from None


@v1.get(
    "/pathways/{pathway_id}",
    summary="A pathway of the calling institution",
    responses=problem_responses(
        {
            401: "No institution key, or one that does not hold",
            403: "A holder token",
            404: "No such pathway, or another institution's",
        }
    ),
)
async def get_pathway(
    pathway_id: str, pathways: Pathways, institution: Institution
) -> PathwayDefinition:
    """The pathway as defined, with its back-fill's state (`pending`, `running`, `done`)."""
    return await pathways.get(pathway_id, institution=institution)


@v1.delete(
    "/pathways/{pathway_id}",
    status_code=204,
    summary="Delete a pathway of the calling institution",
    responses=problem_responses(
        {
            401: "No institution key, or one that does not hold",
            403: "A holder token, or a key without the read and issue scopes",
            404: "No such pathway, or another institution's (the same answer)",
        }
    ),
)
async def delete_pathway(
    pathway_id: str, pathways: Pathways, institution: DefiningInstitution
) -> Response:
    """From now on the pathway is a 404, shows in no holder's progress, and no credential event
    moves it. Completions claimed before stay, and so do the stacked credentials awarded for
    them. Deleting it again is a 204 as well; a `PUT` defines it anew."""
    await pathways.delete(pathway_id, institution=institution)
    return Response(status_code=204)


@v1.get(
    "/holders/{holder_id}/pathways",
    summary="A holder's progress along the pathways it has started",
    responses=problem_responses(
        {
            401: "No holder token or institution key, or one that does not hold",
            403: "Another holder's token",
            404: "An institution that issued nothing to this holder",
        }
    ),
)
async def get_holder_pathways(
    holder_id: str, queries: Queries, pathways: Pathways, caller: KnownCaller
) -> list[PathwayProgress]:
    """Each pathway the holder has started: "3 of 4", or completed (and whether a credential it
    counted was revoked since). An institution sees its own pathways of a holder it issued to."""
    if caller.holder_id is not None and caller.holder_id != holder_id:
        raise ProblemError(403, detail="a holder token reads its own holder's progress only")
    if caller.institution is not None:
        await queries.vouch(holder_id, caller.institution)
    return await pathways.progress(holder_id, institution=caller.institution)


router = APIRouter()
router.include_router(v1)
router.include_router(contexts)


# --- holders: DID authentication → holder token ---------------------------------------------


class ChallengeRequest(BaseModel):
    """The DID whose holder wants a token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holder_id: Annotated[str, Field(min_length=8, max_length=500, examples=["did:key:z6Mk…"])]


class ChallengeAnswer(BaseModel):
    """Sign `{"challenge": challenge, "aud": audience}` as a compact JWS (EdDSA) whose `kid`
    is a verification method of the DID for `authentication`, before `expires_at`."""

    challenge: str
    holder_id: str
    audience: str
    expires_at: datetime


class TokenRequest(BaseModel):
    """The challenge, and the wallet's signature of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    challenge: Annotated[str, Field(min_length=1, max_length=200)]
    proof: Annotated[str, Field(min_length=1, max_length=10_000)]


class TokenAnswer(BaseModel):
    """A holder token: `Authorization: Bearer <token>` on the holder's own routes."""

    token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme's name
    holder_id: str
    expires_at: datetime


@v1.post(
    "/holders/auth/challenge",
    status_code=201,
    summary="A challenge for a holder's DID (did:key or did:web)",
    responses=problem_responses(
        {422: "Not a did:key or did:web", 503: "Holder tokens are not configured here"}
    ),
)
async def holder_challenge(body: ChallengeRequest, auth: Authentication) -> ChallengeAnswer:
    """Step one of DID authentication: a single-use challenge, valid five minutes."""
    issued = await auth.challenge(body.holder_id)
    return ChallengeAnswer(
        challenge=issued.challenge,
        holder_id=issued.holder_id,
        audience=issued.audience,
        expires_at=issued.expires_at,
    )


@v1.post(
    "/holders/auth/token",
    summary="A holder token for a signed challenge",
    responses=problem_responses(
        {
            401: "Unknown, used or expired challenge, or a proof that does not hold",
            503: "Holder tokens are not configured here",
        }
    ),
)
async def holder_token(body: TokenRequest, auth: Authentication) -> TokenAnswer:
    """Step two: the proof checked against the DID's key, then a short-lived token."""
    issued = await auth.token(body.challenge, body.proof)
    return TokenAnswer(token=issued.token, holder_id=issued.holder_id, expires_at=issued.expires_at)


@v1.post(
    "/holders/{holder_id}/tokens",
    status_code=201,
    summary="A holder token minted by an institution, for a learner without a DID",
    responses=problem_responses(
        {
            401: "No institution key, or one that does not hold",
            403: "A holder token, or a key without the read scope",
            404: "The institution issued nothing to this holder",
            503: "Holder tokens are not configured here",
        }
    ),
)
async def mint_holder_token(
    holder_id: str, queries: Queries, auth: Authentication, institution: Institution
) -> TokenAnswer:
    """The institution vouches for its learner (e-mail or student number) and hands the token
    over through its own channels; it may do so only for a holder it issued to."""
    await queries.vouch(holder_id, institution)
    issued = auth.mint(holder_id, authenticated_by=institution)
    return TokenAnswer(token=issued.token, holder_id=issued.holder_id, expires_at=issued.expires_at)
