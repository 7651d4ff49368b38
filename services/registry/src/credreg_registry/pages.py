"""Server-rendered pages (Jinja2, plain HTML and CSS, a few lines of vanilla JavaScript for
dropping a file on the verify page): the holder's portfolio, the shared view an employer opens,
and the verify page. They call the same use cases as the JSON routes.

The portfolio authenticates by the holder token, pasted once into a sign-in form, then kept in
an HttpOnly, SameSite=Strict cookie (Secure over https) that expires with the token; every
form that changes something carries a CSRF token derived from the cookie, and a request whose
``Origin`` is another site is refused. Pages are HTML for people, not API operations: they are
Starlette routes, left out of the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from credreg_registry.domain import Caller, CredentialNotFound, InvalidCursor, NotYourPortfolio
from credreg_registry.layout import BODIES
from credreg_registry.pathways import ManagePathways
from credreg_registry.sharing import (
    MAX_LINK_DAYS,
    MAX_SHARED_CREDENTIALS,
    HolderSharing,
    ShareLinkNotFound,
    TooManyShareLinks,
    UnknownCredentials,
)
from credreg_registry.use_cases import PortfolioFilters, RegistryQueries, VerifyCredentials
from credreg_shared.credentials.report import Outcome
from credreg_shared.holder_tokens import HolderTokenVerifier, InvalidHolderToken

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)
SESSION_COOKIE = "credreg_holder"
MAX_PASTED_BYTES = 256 * 1024
"""A credential pasted into the verify page is at most this (as `POST /v1/verify`)."""
VERIFY_FORM_LIMIT = 4 * 1024 * 1024
"""The verify page's form body limit: a paste far over `MAX_PASTED_BYTES`, URL-encoded, still
reaches the page, which says why it refuses it."""
CHECK_LABELS = {
    "format": "Format",
    "proof": "Proof",
    "issuer": "Issuer",
    "revocation": "Status list (revocation)",
    "suspension": "Status list (suspension)",
    "validity": "Dates",
    "schema": "Schema",
    "registry": "Registry status",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it a browser sends `Origin: null` on the page's own form posts.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _date(value: Any) -> str:
    return value.strftime("%-d %B %Y") if isinstance(value, datetime) else ""


def _slug(value: str) -> str:
    """A short, stable HTML id for a credential or link id."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


TEMPLATES.filters["date"] = _date
TEMPLATES.filters["slug"] = _slug


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template as a page, with the security headers every page gets."""
    html = TEMPLATES.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _use_case(request: Request, kind: type[Any]) -> Any:
    return request.app.state.use_cases[kind]


async def _form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (anything else reads as empty)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True, max_num_fields=200)


def _first(form: Mapping[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _same_origin(request: Request) -> bool:
    """Not a form post from another site (without an ``Origin``, or an opaque one, the CSRF
    token decides alone)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


# --- the holder's session -----------------------------------------------------------------------


def _session(request: Request) -> tuple[str, str] | None:
    """(holder id, token) of the signed-in holder, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    verifier: HolderTokenVerifier | None = request.app.state.holder_tokens
    if not token or verifier is None:
        return None
    try:
        return verifier.check(token).holder_id, token
    except InvalidHolderToken:
        return None


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: only a page that can read the cookie's value knows it."""
    return hashlib.sha256(f"credreg-csrf:{session_token}".encode()).hexdigest()


def _forbidden(message: str) -> HTMLResponse:
    return render("message.html", 403, title="Not allowed", message=message)


async def _checked_post(request: Request) -> tuple[str, dict[str, list[str]]] | Response:
    """(holder id, form) of a post from the signed-in holder's own page, or the refusal."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/portfolio", status_code=303)
    holder_id, token = session
    form = await _form(request)
    if not _same_origin(request) or not hmac.compare_digest(
        _first(form, "csrf"), csrf_token(token)
    ):
        return _forbidden("This form did not come from your portfolio page. Reload it and retry.")
    return holder_id, form


async def portfolio_page(request: Request) -> Response:
    """The signed-in holder's portfolio, or the sign-in form."""
    session = _session(request)
    if session is None:
        return render("sign_in.html", title="Sign in to your portfolio")
    return await _portfolio(request, *session)


async def _portfolio(
    request: Request,
    holder_id: str,
    token: str,
    *,
    created: Any = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    queries: RegistryQueries = _use_case(request, RegistryQueries)
    sharing: HolderSharing = _use_case(request, HolderSharing)
    caller = Caller(holder_id=holder_id)
    newest = request.query_params.get("sort", "newest") != "oldest"
    state = request.query_params.get("status") or None
    if state not in (None, "active", "suspended", "expired", "revoked"):
        state = None
    try:
        page = await queries.portfolio(
            holder_id,
            caller,
            request.query_params.get("cursor") or None,
            PortfolioFilters(status=state),
            newest_first=newest,
        )
    except InvalidCursor:
        return render("message.html", 400, title="Bad link", message="That page link is broken.")
    links = await sharing.links(holder_id, caller)
    pathways = await _use_case(request, ManagePathways).progress(holder_id)
    bodies = await queries.documents.find_many(BODIES, [c.id for c in page.credentials])
    names = {d["_id"]: _issuer_name(d["json"]) for d in bodies}
    groups: dict[str, dict[str, Any]] = {}
    for credential in page.credentials:
        group = groups.setdefault(
            credential.issuer_id,
            {"issuer_id": credential.issuer_id, "name": None, "credentials": []},
        )
        group["name"] = group["name"] or names.get(credential.id)
        group["credentials"].append(credential)
    titles = {c.id: c.achievement_name for c in page.credentials}
    return render(
        "portfolio.html",
        status,
        title="My credentials",
        holder_id=holder_id,
        groups=list(groups.values()),
        expiring=[c for c in page.credentials if c.expires_soon is not None],
        pathways=pathways,
        links=links,
        titles=titles,
        created=created,
        error=error,
        csrf=csrf_token(token),
        next_cursor=page.next_cursor,
        sort="newest" if newest else "oldest",
        status_filter=state or "",
        base_url=str(request.base_url).rstrip("/"),
        max_days=MAX_LINK_DAYS,
        now=datetime.now(UTC),
    )


def _issuer_name(body: str) -> str | None:
    try:
        issuer = json.loads(body).get("issuer")
    except ValueError:
        return None
    name = issuer.get("name") if isinstance(issuer, dict) else None
    return name if isinstance(name, str) else None


async def sign_in(request: Request) -> Response:
    """Take a holder token from the form; keep it in an HttpOnly cookie."""
    form = await _form(request)
    token = _first(form, "token").strip()
    verifier: HolderTokenVerifier | None = request.app.state.holder_tokens
    if not _same_origin(request):
        return _forbidden("Sign in from this site's own sign-in page.")
    try:
        if verifier is None:
            raise InvalidHolderToken("holder tokens are not taken here")
        checked = verifier.check(token)
    except InvalidHolderToken:
        return render(
            "sign_in.html",
            401,
            title="Sign in to your portfolio",
            error="That token is not valid or has expired. Ask for a new one and try again.",
        )
    response = RedirectResponse("/portfolio", status_code=303)
    seconds = int((checked.expires_at - datetime.now(UTC)).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(seconds, 1),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def sign_out(request: Request) -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/portfolio", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def create_link(request: Request) -> Response:
    """Make a share link of the ticked credentials; the page shows it once."""
    checked = await _checked_post(request)
    if isinstance(checked, Response):
        return checked
    holder_id, form = checked
    session = _session(request)
    assert session is not None  # noqa: S101 - checked above
    sharing: HolderSharing = _use_case(request, HolderSharing)
    chosen = [i for i in form.get("credential", []) if i]
    try:
        days = int(_first(form, "days") or "30")
    except ValueError:
        days = 0
    label = _first(form, "label").strip()[:100] or None
    error = None
    if not chosen:
        error = "Tick at least one credential to share."
    elif len(chosen) > MAX_SHARED_CREDENTIALS:
        error = f"A link shares at most {MAX_SHARED_CREDENTIALS} credentials."
    elif not 1 <= days <= MAX_LINK_DAYS:
        error = f"A link lasts from 1 to {MAX_LINK_DAYS} days."
    if error is not None:
        return await _portfolio(request, *session, error=error, status=422)
    try:
        made = await sharing.create_link(
            holder_id, Caller(holder_id=holder_id), chosen, days=days, label=label
        )
    except (UnknownCredentials, TooManyShareLinks) as refused:
        return await _portfolio(request, *session, error=str(refused), status=422)
    return await _portfolio(request, *session, created=made, status=201)


async def revoke_link(request: Request) -> Response:
    """Revoke one of the holder's share links."""
    checked = await _checked_post(request)
    if isinstance(checked, Response):
        return checked
    holder_id, _ = checked
    sharing: HolderSharing = _use_case(request, HolderSharing)
    try:
        await sharing.revoke_link(
            holder_id, Caller(holder_id=holder_id), request.path_params["link_id"]
        )
    except (ShareLinkNotFound, NotYourPortfolio):
        return render("message.html", 404, title="Not found", message="No such share link.")
    return RedirectResponse("/portfolio", status_code=303)


async def set_searchable(request: Request) -> Response:
    """Give or withdraw consent to employer search for one credential."""
    checked = await _checked_post(request)
    if isinstance(checked, Response):
        return checked
    holder_id, form = checked
    sharing: HolderSharing = _use_case(request, HolderSharing)
    try:
        await sharing.set_searchable(
            _first(form, "credential_id"),
            Caller(holder_id=holder_id),
            _first(form, "searchable") == "true",
        )
    except CredentialNotFound:
        return render("message.html", 404, title="Not found", message="No such credential.")
    return RedirectResponse("/portfolio", status_code=303)


# --- what an employer opens ---------------------------------------------------------------------


def _checks(report: Any) -> list[dict[str, Any]]:
    return [
        {
            "label": CHECK_LABELS.get(check.name, check.name.capitalize()),
            "passed": check.outcome is Outcome.PASSED,
            "failed": check.outcome is Outcome.FAILED,
            "reason": check.reason,
        }
        for check in report.checks
    ]


async def shared_page(request: Request) -> Response:
    """A share link's credentials, each verified now; one 404 for unknown, revoked, expired."""
    sharing: HolderSharing = _use_case(request, HolderSharing)
    verifier: VerifyCredentials = _use_case(request, VerifyCredentials)
    try:
        view = await sharing.open_link(request.path_params["secret"])
    except ShareLinkNotFound:
        return render(
            "message.html",
            404,
            title="Link not found",
            message="This link does not exist, has expired, or was withdrawn by its holder.",
        )
    verified = await asyncio.gather(*(verifier.verify(c.credential) for c in view.credentials))
    credentials = [
        {
            "shared": shared,
            "verified": result.report.verified,
            "checks": _checks(result.report),
            "details": _details(shared.credential),
        }
        for shared, result in zip(view.credentials, verified, strict=True)
    ]
    return render(
        "shared.html",
        title=view.label or "Shared credentials",
        view=view,
        credentials=credentials,
    )


def _details(credential: Mapping[str, Any]) -> dict[str, Any]:
    """What the shared page shows of a credential beside its status."""
    subject = credential.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    achievement = achievement if isinstance(achievement, dict) else {}
    issuer = credential.get("issuer")

    def names(items: Any, key: str) -> list[str]:
        found = (
            [i.get(key) for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        )
        return [f for f in found if isinstance(f, str)]

    accreditors = [
        a["accreditor"]
        for a in achievement.get("accreditation", [])
        if isinstance(a, dict) and isinstance(a.get("accreditor"), dict)
    ]
    return {
        "issuer_name": issuer.get("name") if isinstance(issuer, dict) else None,
        "description": achievement.get("description"),
        "competencies": names(achievement.get("alignment"), "targetName"),
        "hours": achievement.get("learningHours"),
        "delivery_mode": achievement.get("deliveryMode"),
        "accreditors": names(accreditors, "name"),
        "partners": names(achievement.get("industryPartner"), "name"),
    }


async def verify_page(request: Request) -> Response:
    """The verify form, or the checks of the credential named by ``?id=``."""
    credential_id = request.query_params.get("id", "").strip()
    if not credential_id:
        return render("verify.html", title="Verify a credential")
    queries: RegistryQueries = _use_case(request, RegistryQueries)
    body = await queries.documents.find_one(BODIES, credential_id[:2000])
    if body is None:
        return render(
            "verify.html",
            404,
            title="Verify a credential",
            error="This registry has no credential with that id. Paste the credential instead.",
        )
    # Checks only: whoever has the id learns whether it holds, not what it certifies.
    return await _verified(request, json.loads(body["json"]), pasted=None, named=False)


async def verify_pasted(request: Request) -> Response:
    """The checks of a pasted (or dropped) credential; bad input is said on the page."""
    form = await _form(request)
    pasted = _first(form, "credential")
    size = len(pasted.encode("utf-8"))

    def refused(status: int, message: str) -> HTMLResponse:
        kept = pasted if size <= MAX_PASTED_BYTES else ""
        return render(
            "verify.html", status, title="Verify a credential", error=message, pasted=kept
        )

    if not pasted.strip():
        return refused(422, "Paste a credential (its JSON) or drop its file, then press Verify.")
    if size > MAX_PASTED_BYTES:
        return refused(
            413,
            f"That is {size // 1024} KB: a credential is at most {MAX_PASTED_BYTES // 1024} KB. "
            "Check that you pasted the credential alone.",
        )
    try:
        credential = json.loads(pasted)
    except (ValueError, RecursionError):
        return refused(422, "That is not JSON. Paste the credential exactly as you received it.")
    if not isinstance(credential, dict):
        return refused(422, "That is JSON, but not a credential: a credential is a JSON object.")
    kinds = credential.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "VerifiableCredential" not in kinds:
        return refused(
            422, "That is JSON, but not a credential: its type does not say VerifiableCredential."
        )
    return await _verified(request, credential, pasted=pasted)


async def _verified(
    request: Request, credential: dict[str, Any], pasted: str | None, *, named: bool = True
) -> Response:
    verifier: VerifyCredentials = _use_case(request, VerifyCredentials)
    result = await verifier.verify(credential)
    return render(
        "verify.html",
        title="Verify a credential",
        report=result.report,
        checks=_checks(result.report),
        fetch_problems=result.fetch_problems,
        name=credential.get("name") if named and isinstance(credential.get("name"), str) else None,
        pasted=pasted,
    )


# --- routes -------------------------------------------------------------------------------------


class PageRoute(Route):
    """A Starlette route that leaves itself in the scope, as FastAPI's do, so that metrics
    label it by its template (``/shared/{secret}``), never by the path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Starlette's match, plus ``route``."""
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


def _asset(name: str, media_type: str) -> Route:
    content = (HERE / "static" / name).read_bytes()

    async def serve(_: Request) -> Response:
        return Response(
            content,
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return PageRoute(f"/assets/{name}", serve, methods=["GET"], include_in_schema=False)


def page_routes() -> list[BaseRoute]:
    """Every page and its assets."""
    return [
        PageRoute("/portfolio", portfolio_page, methods=["GET"]),
        PageRoute("/portfolio/sign-in", sign_in, methods=["POST"]),
        PageRoute("/portfolio/sign-out", sign_out, methods=["POST"]),
        PageRoute("/portfolio/share-links", create_link, methods=["POST"]),
        PageRoute("/portfolio/share-links/{link_id}/revoke", revoke_link, methods=["POST"]),
        PageRoute("/portfolio/searchable", set_searchable, methods=["POST"]),
        PageRoute("/shared/{secret}", shared_page, methods=["GET"]),
        PageRoute("/verify", verify_page, methods=["GET"]),
        PageRoute("/verify", verify_pasted, methods=["POST"]),
        _asset("pages.css", "text/css"),
        _asset("verify.js", "text/javascript"),
    ]
