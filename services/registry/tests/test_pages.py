"""The pages over the registry's fakes, as HTTP (the browser tests in tests/browser drive them in
Chromium): the session cookie, CSRF and origin checks, another holder's link, the verify page's
answers to bad input, and the headers every page gets."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from credreg_registry.adapters.fakes import InMemoryChallenges, InMemoryHolderStore, InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.pages import SESSION_COOKIE, csrf_token
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging.handlers import ConsumedEvent

pytestmark = pytest.mark.timeout(30)

ADA, GRACE = "did:example:ada", "did:example:grace"
FIRST, SECOND, GRACES = (f"urn:uuid:00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))
KEY = Ed25519KeyPair.generate()
MINTER = HolderTokenMinter(KEY, lifetime=timedelta(hours=1))


def token(holder: str = ADA) -> str:
    return MINTER.mint(holder, authenticated_by="did")[0]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    view = InMemoryView()
    events = [
        samples.credential_issued(FIRST, ADA),
        samples.credential_issued(SECOND, ADA),
        samples.credential_issued(GRACES, GRACE),
    ]
    await CredentialProjection(view).apply(
        [
            ConsumedEvent(new_envelope(e, source="urn:test"), "credreg.credentials", 0, n)
            for n, e in enumerate(events)
        ]
    )
    adapters = Adapters(
        documents=view, store=view, challenges=InMemoryChallenges(), holders=InMemoryHolderStore()
    )
    app = build_app(RegistrySettings(holder_token_key=KEY.secret_multikey), fakes=adapters)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        yield client


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def signed_in(http: httpx.AsyncClient, holder: str = ADA) -> str:
    """Sign in through the form; the CSRF token of the session."""
    session = token(holder)
    answer = await http.post("/portfolio/sign-in", data={"token": session}, headers=FORM)
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https gets Secure
    return csrf_token(session)


async def test_without_a_session_the_portfolio_page_is_the_sign_in_form(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.get("/portfolio")
    assert answer.status_code == 200
    assert 'action="/portfolio/sign-in"' in answer.text and FIRST not in answer.text
    refused = await http.post("/portfolio/sign-in", data={"token": "nope"}, headers=FORM)
    assert refused.status_code == 401 and "not valid" in refused.text


async def test_a_session_shows_its_own_portfolio_only(http: httpx.AsyncClient) -> None:
    await signed_in(http)
    page = await http.get("/portfolio")
    assert page.status_code == 200
    assert FIRST in page.text and SECOND in page.text and GRACES not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"


async def test_posts_need_the_sessions_csrf_token_and_this_sites_origin(
    http: httpx.AsyncClient,
) -> None:
    csrf = await signed_in(http)
    form = {"credential": FIRST, "days": "3"}
    missing = await http.post("/portfolio/share-links", data=form, headers=FORM)
    assert missing.status_code == 403
    foreign = await http.post(
        "/portfolio/share-links",
        data={**form, "csrf": csrf},
        headers={**FORM, "origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    made = await http.post(
        "/portfolio/share-links",
        data={**form, "csrf": csrf},
        headers={**FORM, "origin": "http://registry"},
    )
    assert made.status_code == 201, made.text
    link = re.search(r'value="(http://registry/shared/[\w-]+)"', made.text)
    assert link is not None
    assert (await http.get(link.group(1))).status_code == 200
    # Another holder cannot revoke it through its own session.
    link_id = re.search(r'action="/portfolio/share-links/([0-9a-f]{64})/revoke"', made.text)
    assert link_id is not None
    http.cookies.clear()
    grace_csrf = await signed_in(http, GRACE)
    theirs = await http.post(
        f"/portfolio/share-links/{link_id.group(1)}/revoke",
        data={"csrf": grace_csrf},
        headers=FORM,
    )
    assert theirs.status_code == 404
    assert (await http.get(link.group(1))).status_code == 200


async def test_a_share_link_of_another_holders_credential_is_refused(
    http: httpx.AsyncClient,
) -> None:
    csrf = await signed_in(http)
    answer = await http.post(
        "/portfolio/share-links",
        data={"credential": GRACES, "days": "3", "csrf": csrf},
        headers=FORM,
    )
    assert answer.status_code == 422
    assert "not credentials of this holder" in answer.text


async def test_signing_out_ends_the_session(http: httpx.AsyncClient) -> None:
    await signed_in(http)
    out = await http.post("/portfolio/sign-out")
    assert out.status_code == 303
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]


@pytest.mark.parametrize(
    ("pasted", "status", "message"),
    [
        ("{nope", 422, "That is not JSON"),
        ('"a string"', 422, "a credential is a JSON object"),
        ('{"type": ["Thing"]}', 422, "does not say VerifiableCredential"),
        ("[" * 150_000 + "]" * 150_000, 413, "at most 256 KB"),
        ("[" * 50_000 + "]" * 50_000, 422, "not JSON"),
        ("", 422, "Paste a credential"),
    ],
    ids=["not-json", "string", "not-a-credential", "huge", "too-deep", "empty"],
)
async def test_bad_input_on_the_verify_page_is_a_message_never_a_500(
    http: httpx.AsyncClient, pasted: str, status: int, message: str
) -> None:
    answer = await http.post("/verify", data={"credential": pasted}, headers=FORM)
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert message in answer.text


async def test_a_pasted_credential_gets_every_check(http: httpx.AsyncClient) -> None:
    credential = samples.sample_credential_document(FIRST, ADA)
    answer = await http.post("/verify", data={"credential": json.dumps(credential)}, headers=FORM)
    assert answer.status_code == 200
    for label in ("Proof", "Issuer", "Dates", "Schema", "Registry status"):
        assert f"<strong>{label}</strong>" in answer.text
    assert "✗ Not verified" in answer.text  # the sample is unsigned


async def test_a_verify_form_over_four_mebibytes_is_a_413_problem(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/verify", content=b"credential=" + b"x" * (4 * 1024 * 1024), headers=FORM
    )
    assert answer.status_code == 413


async def test_metrics_label_pages_by_their_template_never_a_secret(
    http: httpx.AsyncClient,
) -> None:
    secret = "s3cr3t-" + "x" * 40
    assert (await http.get(f"/shared/{secret}")).status_code == 404
    assert (await http.get("/verify")).status_code == 200
    metrics = (await http.get("/metrics")).text
    assert 'route="/shared/{secret}"' in metrics and 'route="/verify"' in metrics
    assert secret not in metrics
