"""The pages in a real headless Chromium, driven as a person would: sign in with a holder token,
read the portfolio, share credentials by link, open and revoke the link, make a credential
searchable, verify credentials by pasting them or by id, and paste bad input."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from .conftest import screenshot_path
from .demo import (
    COLLEGE,
    EXPIRING,
    OTHER_HOLDER,
    PATHWAY_NAME,
    REVOKED,
    UNIVERSITY,
    Demo,
    credential_number,
)

pytestmark = pytest.mark.timeout(90)

Served = tuple[Demo, str]


async def sign_in(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/portfolio")
    await expect(page.get_by_role("heading", name="Sign in to your portfolio")).to_be_visible()
    await page.get_by_label("Holder token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="My credentials")).to_be_visible()


def mark_of(scope: Page | Locator, label: str) -> Locator:
    """The ✓ / ✗ / – of the check named `label` (exactly) in `scope`."""
    root = scope if isinstance(scope, Page) else scope.page
    named = root.locator("strong").get_by_text(label, exact=True)
    return scope.locator("li.check").filter(has=named).locator(".mark")


async def test_the_portfolio_groups_credentials_by_institution_with_badges_and_a_banner(
    demo: Served, page: Page, context: BrowserContext
) -> None:
    found, base = demo
    await sign_in(page, base, found.token())
    cookie = next(c for c in await context.cookies() if c["name"] == "credreg_holder")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    institutions = page.locator("section.institution h2")
    await expect(institutions).to_have_text([COLLEGE.name, UNIVERSITY.name])
    college = page.locator("section.institution").filter(has_text=COLLEGE.name)
    await expect(college.locator("li.credential strong")).to_have_text(
        ["Workplace Safety", "CPR and First Aid"]
    )
    revoked = page.locator("li.credential").filter(has_text="Statistics Refresher")
    await expect(revoked.locator(".badge")).to_have_text("Revoked")
    active = page.locator("li.credential").filter(has_text="Applied Data Analysis")
    await expect(active.locator(".badge")).to_have_text("Active")
    banner = page.get_by_role("region", name="Expiring soon")
    await expect(banner).to_contain_text("CPR and First Aid expires on")
    await expect(banner).not_to_contain_text("Workplace Safety")
    # Another holder's credential is never shown.
    assert await page.locator("li.credential").count() == 6
    # The university's pathway: three of its four achievements held.
    pathways = page.get_by_role("region", name="Pathways")
    pathway = pathways.locator("li.pathway").filter(has_text=PATHWAY_NAME)
    await expect(pathway.locator(".pathway-progress")).to_have_text("3 of 4")
    await expect(pathway.get_by_label(f"Progress along {PATHWAY_NAME}")).to_have_attribute(
        "value", "3"
    )
    await page.screenshot(path=screenshot_path("portfolio.png"), full_page=True)
    # Filtered to revoked, oldest first, through the form.
    await page.get_by_label("Status").select_option("revoked")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("li.credential strong")).to_have_text(["Statistics Refresher"])


async def test_a_wrong_token_is_refused_and_signing_out_forgets_the_session(
    demo: Served, page: Page, context: BrowserContext
) -> None:
    found, base = demo
    await page.goto(f"{base}/portfolio")
    await page.get_by_label("Holder token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid or has expired")
    await sign_in(page, base, found.token())
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to your portfolio")).to_be_visible()
    assert [c for c in await context.cookies() if c["name"] == "credreg_holder"] == []


async def test_a_share_link_opens_for_an_employer_until_the_holder_revokes_it(
    demo: Served, page: Page, context: BrowserContext
) -> None:
    found, base = demo
    await sign_in(page, base, found.token())
    await page.get_by_label("Applied Data Analysis").check()
    await page.get_by_label("CPR and First Aid").check()
    await page.get_by_label("Who is it for? (optional)").fill("Acme hiring")
    await page.get_by_label("Link works for (days)").fill("14")
    await page.get_by_role("button", name="Create share link").click()
    created = page.get_by_role("textbox", name="Share link")
    await expect(created).to_have_value(re.compile(rf"^{re.escape(base)}/shared/[\w-]{{40,}}$"))
    link = await created.input_value()
    await expect(page.get_by_role("heading", name="My share links")).to_be_visible()
    listed = page.locator("li.link").filter(has_text="Acme hiring")
    await expect(listed).to_contain_text("2 credentials")
    await expect(listed).to_contain_text("Applied Data Analysis")
    await expect(listed).to_contain_text("CPR and First Aid")

    # The employer: another browser context, no cookie.
    employer = await context.browser.new_context(viewport={"width": 1000, "height": 900})  # type: ignore[union-attr]
    try:
        shared = await employer.new_page()
        answer = await shared.goto(link)
        assert answer is not None and answer.status == 200
        await expect(shared.get_by_role("heading", level=1)).to_have_text("Acme hiring")
        cards = shared.locator("article.credential-card")
        await expect(cards.locator("h2")).to_have_text(
            ["CPR and First Aid", "Applied Data Analysis"]
        )
        first = cards.filter(has_text="Applied Data Analysis")
        await expect(first.locator(".verdict")).to_have_text("✓ Verified and in force")
        for label in ("Proof", "Issuer", "Dates", "Status list (revocation)", "Schema"):
            await expect(mark_of(first, label)).to_have_text("✓")
        await expect(first).to_contain_text("Quality Board")
        await expect(first).to_contain_text("42.5")
        await expect(shared.locator("body")).not_to_contain_text("Statistics Refresher")
        await shared.screenshot(path=screenshot_path("shared.png"), full_page=True)

        # The holder revokes it: the employer's next visit is a 404, like a link never made.
        await listed.get_by_role("button", name="Revoke").click()
        await expect(page.locator("li.link").filter(has_text="Acme hiring")).to_contain_text(
            "Revoked"
        )
        gone = await shared.goto(link)
        assert gone is not None and gone.status == 404
        await expect(shared.get_by_role("heading", name="Link not found")).to_be_visible()
        never = await shared.goto(f"{base}/shared/{'x' * 43}")
        assert never is not None and never.status == 404
        await expect(shared.locator("main")).to_have_text(await shared.locator("main").inner_text())
    finally:
        await employer.close()


async def test_the_holder_makes_a_credential_searchable_and_an_employer_finds_it(
    demo: Served, page: Page
) -> None:
    found, base = demo
    await sign_in(page, base, found.token())
    item = page.locator("li.credential").filter(has_text="Applied Data Analysis")
    await expect(item.locator(".badge-searchable")).to_have_count(0)
    async with httpx.AsyncClient(base_url=base) as api:
        search = {"competency": "DS-1", "accredited_by": "Quality Board"}
        assert (await api.get("/v1/search", params=search)).json()["credentials"] == []
        await item.get_by_role("button", name="Let employers find it").click()
        await expect(item.locator(".badge-searchable")).to_have_text("Searchable")
        hits = (await api.get("/v1/search", params=search)).json()["credentials"]
        assert [h["id"] for h in hits] == [credential_number(1)]
        assert "did:example" not in json.dumps(hits)
        await item.get_by_role("button", name="Hide from employer search").click()
        await expect(item.locator(".badge-searchable")).to_have_count(0)
        assert (await api.get("/v1/search", params=search)).json()["credentials"] == []


async def test_the_verify_page_checks_a_pasted_credential_and_one_opened_by_id(
    demo: Served, page: Page
) -> None:
    found, base = demo
    await page.goto(f"{base}/verify")
    await page.get_by_label("Paste a credential (JSON), or drop its file here").fill(
        json.dumps(found.credentials[REVOKED])
    )
    await page.get_by_role("button", name="Verify").click()
    await expect(page.locator(".verdict")).to_have_text(
        "✗ Not verified: Statistics Refresher micro-credential"
    )
    await expect(mark_of(page, "Status list (revocation)")).to_have_text("✗")
    named = page.locator("strong").get_by_text("Status list (revocation)", exact=True)
    revocation = page.locator("li.check").filter(has=named)
    await expect(revocation.locator(".reason")).to_contain_text("revoked")
    await expect(mark_of(page, "Proof")).to_have_text("✓")

    await page.goto(f"{base}/verify?id={credential_number(1)}")
    # By id: the checks, not what the credential certifies (the id may be all one has).
    await expect(page.locator(".verdict")).to_have_text("✓ Verified")
    await expect(page.locator("main")).not_to_contain_text("Applied Data Analysis")
    labels = page.locator("li.check strong")
    await expect(labels).to_contain_text(
        ["Proof", "Issuer", "Dates", "Status list (revocation)", "Schema"]
    )
    for label in ("Proof", "Issuer", "Dates", "Status list (revocation)", "Schema"):
        await expect(mark_of(page, label)).to_have_text("✓")
    await page.screenshot(path=screenshot_path("verify.png"), full_page=True)

    # A tampered credential: the proof fails, and says so.
    forged = dict(found.credentials[EXPIRING])
    forged["name"] = "Brain Surgery micro-credential"
    await page.get_by_label("Paste a credential (JSON), or drop its file here").fill(
        json.dumps(forged)
    )
    await page.get_by_role("button", name="Verify").click()
    await expect(mark_of(page, "Proof")).to_have_text("✗")
    await expect(page.locator(".verdict")).to_contain_text("✗ Not verified")


@pytest.mark.parametrize(
    ("pasted", "message", "status"),
    [
        ("this is not json {", "That is not JSON", 422),
        ("[1, 2, 3]", "not a credential: a credential is a JSON object", 422),
        ('{"name": "a shopping list"}', "not a credential: its type does not say", 422),
        ("x" * 300_000, "a credential is at most 256 KB", 413),
        ("   ", "Paste a credential", 422),
    ],
    ids=["not-json", "array", "not-a-credential", "huge", "empty"],
)
async def test_bad_input_on_the_verify_page_gets_a_clear_message(
    demo: Served, page: Page, pasted: str, message: str, status: int
) -> None:
    _, base = demo
    await page.goto(f"{base}/verify")
    await page.get_by_label("Paste a credential (JSON), or drop its file here").fill(pasted)
    async with page.expect_navigation() as navigation:
        await page.get_by_role("button", name="Verify").click()
    answer = await navigation.value
    assert answer is not None and answer.status == status
    await expect(page.get_by_role("alert")).to_contain_text(message)
    await expect(page.locator(".verdict")).to_have_count(0)


async def test_an_unknown_id_on_the_verify_page_says_so(demo: Served, page: Page) -> None:
    _, base = demo
    answer = await page.goto(f"{base}/verify?id=urn:uuid:no-such-credential")
    assert answer is not None and answer.status == 404
    await expect(page.get_by_role("alert")).to_contain_text("no credential with that id")


async def test_a_file_chosen_on_the_verify_page_is_verified(demo: Served, page: Page) -> None:
    found, base = demo
    await page.goto(f"{base}/verify")
    await page.get_by_label("Or choose a file").set_input_files(
        files=[
            {
                "name": "credential.json",
                "mimeType": "application/json",
                "buffer": json.dumps(found.credentials[1]).encode(),
            }
        ]
    )
    area = page.get_by_label("Paste a credential (JSON), or drop its file here")
    await expect(area).to_have_value(re.compile("Applied Data Analysis"))
    await page.get_by_role("button", name="Verify").click()
    await expect(page.locator(".verdict")).to_contain_text("✓ Verified")


async def test_the_pages_work_by_keyboard_and_label_every_control(demo: Served, page: Page) -> None:
    found, base = demo
    await page.goto(f"{base}/verify")
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    area = page.get_by_label("Paste a credential (JSON), or drop its file here")
    await area.focus()
    await page.keyboard.insert_text(json.dumps(found.credentials[1]))
    await page.keyboard.press("Tab")  # the file input
    await page.keyboard.press("Tab")  # the Verify button
    assert await page.evaluate("document.activeElement.textContent") == "Verify"
    await page.keyboard.press("Enter")
    await expect(page.locator(".verdict")).to_contain_text("✓ Verified")
    await sign_in(page, base, found.token())
    for path in ("/portfolio", "/verify"):
        await page.goto(f"{base}{path}")
        unlabelled = await page.evaluate(
            """[...document.querySelectorAll(
                 'input:not([type=hidden]), textarea, select')]
               .filter(e => !e.closest('[hidden]') && e.labels.length === 0
                            && !e.getAttribute('aria-label'))
               .map(e => e.outerHTML)"""
        )
        assert unlabelled == [], path


async def test_the_pages_fit_a_phone_screen(demo: Served, context: BrowserContext) -> None:
    found, base = demo
    phone = await context.browser.new_context(  # type: ignore[union-attr]
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    try:
        page = await phone.new_page()
        await sign_in(page, base, found.token())
        for path in ("/portfolio", f"/verify?id={credential_number(1)}"):
            await page.goto(f"{base}{path}")
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, path
    finally:
        await phone.close()


async def test_another_holder_sees_only_its_own_portfolio(demo: Served, page: Page) -> None:
    found, base = demo
    await sign_in(page, base, found.token(OTHER_HOLDER))
    await expect(page.locator("li.credential strong")).to_have_text(["Applied Data Analysis"])
    await expect(page.locator("body")).not_to_contain_text("Statistics Refresher")
