"""The issuer's HTTP routes: thin; the work is in use_cases.py."""

from __future__ import annotations

import hmac
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from credreg_issuer.batch_issuance import IssueBatches
from credreg_issuer.batches import (
    MAX_BATCH_BYTES,
    MAX_ITEMS,
    RESULTS_PAGE,
    BatchKeyReused,
    BatchNotFound,
    BatchView,
    NewBatch,
    WrongInstitution,
)
from credreg_issuer.domain import IdempotencyKeyReused, ValidityWindowPassed
from credreg_issuer.institutions import (
    ApiKeyNotFound,
    ApiKeyView,
    CreatedApiKey,
    Institution,
    InstitutionExists,
    InstitutionNotFound,
    InstitutionView,
    KeyRotationRaced,
    NewApiKey,
    NewInstitution,
    NoKeyEncryptionKey,
)
from credreg_issuer.status_lists import LIST_TTL, StatusListFull, StatusListNotFound
from credreg_issuer.use_cases import IssueCredentials, ManageInstitutions, ManageStatusLists
from credreg_shared.auth import bearer_token
from credreg_shared.events import models
from credreg_shared.issuance import IssueCredential
from credreg_shared.web import (
    ProblemError,
    not_modified,
    problem_responses,
    public_cache_headers,
    use_case,
)
from credreg_shared.web.security import ADMIN_API_KEY, CallingInstitution, secured

TITLE = "credreg issuer"
DESCRIPTION = "Registrars issue Open Badges 3.0 micro-credentials; each one is an event."


async def require_admin(request: Request) -> None:
    """The bootstrap admin key, or a 401 problem (every admin route is off without one)."""
    expected: str | None = request.app.state.admin_api_key
    token = bearer_token(request)
    if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ProblemError(
            401,
            detail="admin routes need the bootstrap admin key (CREDREG_ADMIN_API_KEY)",
            headers={"WWW-Authenticate": "Bearer"},
        )


v1 = APIRouter(prefix="/v1", tags=["issuance"])
# Every admin route takes the bootstrap admin key.
ADMIN_ONLY = [Depends(secured(require_admin, ADMIN_API_KEY))]
admin = APIRouter(prefix="/v1/institutions", tags=["institutions (admin)"], dependencies=ADMIN_ONLY)
admin_root = APIRouter(tags=["institutions (admin)"], dependencies=ADMIN_ONLY)
dids = APIRouter(tags=["DID documents"])

ERROR_STATUSES: dict[type[Exception], int] = {
    BatchNotFound: 404,
    BatchKeyReused: 409,
    WrongInstitution: 403,
    IdempotencyKeyReused: 409,
    ValidityWindowPassed: 422,  # the route answers it as a validation error; this is a backstop
    InstitutionExists: 409,
    KeyRotationRaced: 409,
    InstitutionNotFound: 404,
    ApiKeyNotFound: 404,
    NoKeyEncryptionKey: 503,
    StatusListNotFound: 404,
    StatusListFull: 503,
}


class IssuedCredential(BaseModel):
    """The issued credential, its holder and issuer, and the id of its `credential.issued`."""

    id: str
    issuer_id: str
    holder_id: str
    event_id: str
    credential: dict[str, Any]


@v1.post(
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
    without issuing another one, even once its `valid_until` has passed.
    """
    try:
        envelope = await issue.handle(body, institution=caller, idempotency_key=idempotency_key)
    except ValidityWindowPassed as refused:
        # Checked after the Idempotency-Key lookup, but answered as the body's validation was.
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", *(e.field.split(".") if e.field else ())),
                    "msg": e.message,
                }
                for e in refused.errors
            ]
        ) from None
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


# --- batches: up to 10,000 issuances in one request, issued in the background ---------------

Batches = Annotated[IssueBatches, Depends(use_case(IssueBatches))]


@v1.post(
    "/credential-batches",
    status_code=202,
    responses=problem_responses(
        {
            401: "Missing or unknown API key",
            403: "The batch names another institution than the API key's",
            409: "The batch's Idempotency-Key was first used for a different batch",
            413: f"The body is over {MAX_BATCH_BYTES // (1024 * 1024)} MiB",
            422: f"No items, more than {MAX_ITEMS:,}, or an idempotency key twice",
            503: "The database did not answer; nothing was stored, retry",
        }
    ),
    summary="Issue a batch of credentials",
)
async def submit_batch(
    body: NewBatch,
    request: Request,
    response: Response,
    batches: Batches,
    caller: CallingInstitution,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> BatchView:
    """Stores the batch and answers 202; its items are then issued in the background.

    Each item is validated on its own: a bad item is rejected in the results without failing
    the others. Each item's `idempotency_key` issues at most one credential, ever, so posting
    the same batch again issues nothing twice. Body limit: 32 MiB.
    """
    view = await batches.submit(body, institution=caller, batch_key=idempotency_key)
    response.headers["Location"] = str(request.url_for("get_batch", batch_id=view.id))
    return view


@v1.get(
    "/credential-batches/{batch_id}",
    responses=problem_responses(
        {401: "Missing or unknown API key", 404: "No such batch of this institution"}
    ),
    summary="A batch's progress and item results",
)
async def get_batch(
    batch_id: str,
    batches: Batches,
    caller: CallingInstitution,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=RESULTS_PAGE)] = RESULTS_PAGE,
) -> BatchView:
    """Counts, and the results of items `offset` … `offset + limit - 1` (the credential id,
    or the item's validation errors); `next_offset` pages on."""
    return await batches.view(batch_id, institution=caller, offset=offset, limit=limit)


# --- institutions: the bootstrap admin key creates them and their keys ----------------------

Institutions = Annotated[ManageInstitutions, Depends(use_case(ManageInstitutions))]
StatusLists = Annotated[ManageStatusLists, Depends(use_case(ManageStatusLists))]


def institution_view(institution: Institution, request: Request) -> InstitutionView:
    """What the admin API shows of an institution (public keys only)."""
    return InstitutionView(
        id=institution.id,
        slug=institution.slug,
        name=institution.name,
        hosted=institution.hosted,
        cryptosuite=institution.cryptosuite,
        active_key=institution.active_key,
        verification_methods=[institution.verification_method(k) for k in institution.keys],
        did_document_url=str(
            request.url_for("get_institution_did_document", institution_id=institution.id)
        ),
        created_at=institution.created_at,
    )


ADMIN_PROBLEMS = {401: "Missing or wrong admin key", 404: "No such institution"}


@admin.post(
    "",
    status_code=201,
    responses=problem_responses(
        {
            401: "Missing or wrong admin key",
            409: "An institution with this id or slug exists",
            422: "The body is not valid",
            503: "No key-encryption key is configured, or the database did not answer",
        }
    ),
    summary="Create an institution and its first signing key",
)
async def create_institution(
    body: NewInstitution, request: Request, institutions: Institutions
) -> InstitutionView:
    """Hosted here as `did:web:<host>:institutions:<slug>`, unless `did` names its own domain."""
    return institution_view(await institutions.create(body), request)


@admin.get(
    "",
    responses=problem_responses({401: "Missing or wrong admin key"}),
    summary="Every institution",
)
async def list_institutions(request: Request, institutions: Institutions) -> list[InstitutionView]:
    """Every institution, by id."""
    return [institution_view(i, request) for i in await institutions.all()]


@admin.get(
    "/{institution_id}",
    responses=problem_responses(ADMIN_PROBLEMS),
    summary="One institution",
)
async def get_institution(
    institution_id: str, request: Request, institutions: Institutions
) -> InstitutionView:
    """One institution by its DID."""
    return institution_view(await institutions.get(institution_id), request)


@admin.post(
    "/{institution_id}/keys",
    status_code=201,
    responses=problem_responses(
        {**ADMIN_PROBLEMS, 409: "Another rotation won; try again", 503: "No key-encryption key"}
    ),
    summary="Rotate the signing key",
)
async def rotate_key(
    institution_id: str, request: Request, institutions: Institutions
) -> InstitutionView:
    """A new active signing key; earlier keys stay in the DID document, so earlier credentials
    keep verifying."""
    return institution_view(await institutions.rotate_key(institution_id), request)


@admin.post(
    "/{institution_id}/api-keys",
    status_code=201,
    responses=problem_responses({**ADMIN_PROBLEMS, 422: "The body is not valid"}),
    summary="Create an API key (shown once)",
)
async def create_api_key(
    institution_id: str, institutions: Institutions, body: NewApiKey | None = None
) -> CreatedApiKey:
    """The key is in this answer only; credreg keeps its SHA-256."""
    return await institutions.create_api_key(institution_id, body or NewApiKey())


@admin.get(
    "/{institution_id}/api-keys",
    responses=problem_responses(ADMIN_PROBLEMS),
    summary="An institution's API keys (never the keys themselves)",
)
async def list_api_keys(institution_id: str, institutions: Institutions) -> list[ApiKeyView]:
    """Ids, scopes, labels and revocation times."""
    return [ApiKeyView.of(k) for k in await institutions.api_keys(institution_id)]


@admin.delete(
    "/{institution_id}/api-keys/{key_id}",
    status_code=204,
    responses=problem_responses({401: "Missing or wrong admin key", 404: "No such key"}),
    summary="Revoke an API key",
)
async def revoke_api_key(institution_id: str, key_id: str, institutions: Institutions) -> Response:
    """Its next request is a 401."""
    await institutions.revoke_api_key(institution_id, key_id)
    return Response(status_code=204)


class Resealed(BaseModel):
    """How many signing keys a reseal sealed anew under the active key-encryption key."""

    resealed: int
    active_kek: str


@admin_root.post(
    "/v1/key-encryption/reseal",
    responses=problem_responses(
        {
            401: "Missing or wrong admin key",
            409: "An institution rotated its key meanwhile; try again",
            503: "No key-encryption key is configured",
        }
    ),
    summary="Reseal every signing key under the active key-encryption key",
)
async def reseal_keys(request: Request, institutions: Institutions) -> Resealed:
    """After putting a new KEK first in CREDREG_KEY_ENCRYPTION_KEY: seal every kept key anew
    under it, so that the earlier KEK can be removed from the setting."""
    count = await institutions.reseal_keys()
    keyring = institutions.keyring
    return Resealed(resealed=count, active_kek=keyring.active_kek_id if keyring else "")


# --- DID documents: public ------------------------------------------------------------------

DID_HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}


@dids.get(
    "/institutions/{slug}/did.json",
    response_class=JSONResponse,
    responses=problem_responses({404: "No institution is hosted here under this name"}),
    summary="The DID document of an institution hosted here (did:web resolution)",
)
async def get_hosted_did_document(slug: str, institutions: Institutions) -> JSONResponse:
    """Where `did:web:<host>:institutions:<slug>` resolves."""
    found = await institutions.hosted(slug)
    return JSONResponse(found.did_document(), headers=DID_HEADERS)


@dids.get(
    "/v1/institutions/{institution_id}/did.json",
    response_class=JSONResponse,
    responses=problem_responses({404: "No such institution"}),
    summary="An institution's DID document, to host on its own domain",
)
async def get_institution_did_document(
    institution_id: str, institutions: Institutions
) -> JSONResponse:
    """Every public key it ever signed with (rotation keeps the old ones)."""
    found = await institutions.get(institution_id)
    return JSONResponse(found.did_document(), headers=DID_HEADERS)


# --- status lists: public ------------------------------------------------------------------


@dids.get(
    "/v1/status-lists/{list_id}",
    response_class=JSONResponse,
    responses={
        **problem_responses({404: "No such status list"}),
        304: {"description": "The copy named by If-None-Match is current"},
    },
    summary="A signed BitstringStatusListCredential (revocation)",
)
async def get_status_list(
    list_id: str,
    status_lists: StatusLists,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Signed by the institution's active key; cacheable for its `ttl`, then revalidated."""
    signed, etag = await status_lists.signed_list(list_id)
    headers = public_cache_headers(etag, f"public, max-age={int(LIST_TTL.total_seconds())}")
    if not_modified(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(signed, headers=headers)


router = APIRouter()
router.include_router(v1)
router.include_router(admin)
router.include_router(admin_root)
router.include_router(dids)
