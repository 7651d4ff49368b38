"""The holder's portfolio filters, consent to employer search, the employer search and share
links, through the registry's routes over its fakes (no Kafka, no MongoDB)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from credreg_registry.adapters.fakes import InMemoryChallenges, InMemoryHolderStore, InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.holder_layout import SEARCH_POSTINGS, SHARE_LINKS
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_registry.sharing import HolderSharing
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.model import Achievement, Criteria
from credreg_shared.credentials.samples import sample_achievement, sample_micro_credential
from credreg_shared.events import models
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging.handlers import ConsumedEvent

pytestmark = pytest.mark.timeout(30)

ADA, GRACE = "did:example:ada", "did:example:grace"
UNI, COLLEGE = "did:web:uni.example", "did:web:college.example"
KEY = Ed25519KeyPair.generate()
MINTER = HolderTokenMinter(KEY, lifetime=timedelta(hours=1))
SETTINGS = RegistrySettings(
    api_keys={"uni-key": UNI, "college-key": COLLEGE}, holder_token_key=KEY.secret_multikey
)
START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def cid(n: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{n:012d}"


def token(holder: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {MINTER.mint(holder, authenticated_by='did')[0]}"}


def issued(n: int, holder: str = ADA, issuer: str = UNI, *, plain: bool = False) -> Any:
    """A credential as the issuer publishes it: the sample data-analysis achievement (42.5
    hours, blended, accredited by the Quality Board, an industry partner, DS-1…DS-5), or with
    `plain` a short one without any of those."""
    achievement = (
        Achievement(
            id="https://uni.example/achievements/first-aid",
            name="First Aid",
            description="Basic first aid.",
            criteria=Criteria(narrative="Pass it."),
            learning_hours="4",
            delivery_mode="in-person",
        )
        if plain
        else sample_achievement()
    )
    document = sample_micro_credential(
        issuer=issuer, holder=holder, credential_id=cid(n)
    ).model_copy(
        update={
            "credential_subject": sample_micro_credential(
                holder=holder
            ).credential_subject.model_copy(update={"achievement": achievement})
        }
    )
    return models.CredentialIssued(
        credential_id=cid(n),
        issuer_id=issuer,
        holder_id=holder,
        achievement_id=achievement.id,
        achievement_name=achievement.name,
        achievement_type="MicroCredential",
        competencies=tuple(
            models.Competency(
                name=a.target_name,
                url=a.target_url,
                framework=a.target_framework,
                code=a.target_code,
            )
            for a in achievement.alignment
        ),
        valid_from=START,
        valid_until=START + timedelta(days=400),
        credential=document.to_document(),
    )


class World:
    def __init__(self) -> None:
        self.view = InMemoryView()
        self.holders = InMemoryHolderStore()
        self.offset = 0

    async def feed(self, *events: models.CredentialEvent) -> None:
        consumed = []
        for data in events:
            envelope = new_envelope(
                data, source="urn:test", time=START + timedelta(minutes=self.offset)
            )
            consumed.append(ConsumedEvent(envelope, "credreg.credentials", 0, self.offset))
            self.offset += 1
        await CredentialProjection(self.view).apply(consumed)


@pytest.fixture
async def world() -> World:
    found = World()
    # Ada: 1-3 from the university (3 is plain), 4 from the college; Grace: 5.
    await found.feed(
        issued(1), issued(2), issued(3, plain=True), issued(4, issuer=COLLEGE), issued(5, GRACE)
    )
    await found.feed(
        models.CredentialRevoked(credential_id=cid(2), issuer_id=UNI, holder_id=ADA, reason="x"),
        models.CredentialExpiring(
            credential_id=cid(1),
            issuer_id=UNI,
            holder_id=ADA,
            valid_until=START + timedelta(days=400),
            lead_days=30,
        ),
    )
    return found


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    adapters = Adapters(
        documents=world.view,
        store=world.view,
        challenges=InMemoryChallenges(),
        holders=world.holders,
    )
    app = build_app(SETTINGS, fakes=adapters)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        yield client


def ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [c["id"] for c in answer.json()["credentials"]]


PORTFOLIO = f"/v1/holders/{ADA}/credentials"


# --- portfolio ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [1, 2, 3, 4]),
        ({"sort": "newest"}, [4, 3, 2, 1]),
        ({"status": "revoked"}, [2]),
        ({"status": "active", "sort": "newest"}, [4, 3, 1]),
        ({"issuer": COLLEGE}, [4]),
        ({"achievement_type": "microcredential"}, [1, 2, 3, 4]),
        ({"achievement_type": "Degree"}, []),
        ({"competency": "DS-3"}, [1, 2, 4]),
        ({"competency": "https://frameworks.example.org/data/competency-1"}, [1, 2, 4]),
        ({"expires_soon": "true"}, [1]),
        ({"issuer": UNI, "competency": "ds-1", "status": "active"}, [1]),
    ],
)
async def test_a_holder_filters_and_sorts_its_portfolio(
    http: httpx.AsyncClient, params: dict[str, str], expected: list[int]
) -> None:
    answer = await http.get(PORTFOLIO, params=params, headers=token(ADA))
    assert ids(answer) == [cid(n) for n in expected]
    assert answer.json()["next_cursor"] is None


@pytest.mark.parametrize("sort", ["oldest", "newest"])
@pytest.mark.parametrize("status", [None, "active"])
async def test_pages_of_one_follow_the_cursor_to_the_end(
    http: httpx.AsyncClient, sort: str, status: str | None
) -> None:
    params: dict[str, Any] = {"limit": 1, "sort": sort} | ({"status": status} if status else {})
    seen: list[str] = []
    for _ in range(10):
        answer = await http.get(PORTFOLIO, params=params, headers=token(ADA))
        seen += ids(answer)
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
        params["cursor"] = cursor
    every = [cid(n) for n in ((1, 3, 4) if status else (1, 2, 3, 4))]
    assert seen == (every if sort == "oldest" else every[::-1])


@pytest.mark.parametrize(
    "query",
    [
        "cursor=abc",
        "cursor=1.x",
        "cursor=" + "9" * 60,
        "sort=newest&cursor=0.1",
        "cursor=n.0.1",
        "status=gone",
        "sort=sideways",
        "limit=0",
    ],
)
async def test_a_malformed_cursor_or_filter_is_a_4xx_problem(
    http: httpx.AsyncClient, query: str
) -> None:
    answer = await http.get(f"{PORTFOLIO}?{query}", headers=token(ADA))
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if "cursor" in query:
        assert answer.status_code == 400


async def test_a_thousand_credentials_are_paged_newest_first_without_loss(world: World) -> None:
    await world.feed(*[issued(100 + n, "did:example:busy", plain=True) for n in range(250)])
    queries = build_app(SETTINGS, fakes=Adapters(documents=world.view, store=world.view))
    transport = httpx.ASGITransport(app=queries)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        seen: list[str] = []
        params: dict[str, Any] = {"sort": "newest"}
        for _ in range(10):
            answer = await client.get(
                "/v1/holders/did:example:busy/credentials",
                params=params,
                headers=token("did:example:busy"),
            )
            seen += ids(answer)
            if answer.json()["next_cursor"] is None:
                break
            params["cursor"] = answer.json()["next_cursor"]
    assert seen == [cid(100 + n) for n in reversed(range(250))]


# --- consent and employer search --------------------------------------------------------------


async def consent(http: httpx.AsyncClient, n: int, holder: str = ADA, on: bool = True) -> None:
    answer = await http.put(
        f"/v1/credentials/{cid(n)}/searchable", json={"searchable": on}, headers=token(holder)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": cid(n), "searchable": on}


async def test_search_finds_only_what_holders_made_searchable(http: httpx.AsyncClient) -> None:
    assert ids(await http.get("/v1/search", params={"competency": "DS-1"})) == []
    await consent(http, 1)
    await consent(http, 5, GRACE)
    found = await http.get("/v1/search", params={"competency": "ds-1"})
    assert ids(found) == [cid(1), cid(5)]
    hit = found.json()["credentials"][0]
    assert "holder_id" not in hit and ADA not in found.text
    assert hit["markers"] == ["competency-based", "accredited", "industry-aligned"]
    assert (hit["hours"], hit["delivery_mode"]) == (42.5, "blended")
    assert hit["accredited_by"] == ["Quality Board"]
    # The portfolio shows the consent; withdrawing it removes the credential from search at once.
    portfolio = (await http.get(PORTFOLIO, headers=token(ADA))).json()["credentials"]
    assert [c["searchable"] for c in portfolio] == [True, False, False, False]
    await consent(http, 1, on=False)
    assert ids(await http.get("/v1/search", params={"competency": "DS-1"})) == [cid(5)]
    await consent(http, 1)
    assert ids(await http.get("/v1/search", params={"competency": "DS-1"})) == [cid(1), cid(5)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"competency": "DS-2"}, [1, 2, 4, 5]),
        ({"achievement_type": "MicroCredential"}, [1, 2, 3, 4, 5]),
        ({"issuer": COLLEGE}, [4]),
        ({"min_hours": 40}, [1, 2, 4, 5]),
        ({"min_hours": 42.6}, []),
        ({"min_hours": 3}, [1, 2, 3, 4, 5]),
        ({"min_hours": 5}, [1, 2, 4, 5]),
        ({"delivery_mode": "in-person"}, [3]),
        ({"competency_based": "true"}, [1, 2, 4, 5]),
        ({"accredited": "true", "issuer": UNI}, [1, 2, 5]),
        ({"accredited_by": "https://quality.example.org"}, [1, 2, 4, 5]),
        ({"accredited_by": "quality board", "status": "revoked"}, [2]),
        ({"industry_aligned": "true", "delivery_mode": "blended", "min_hours": 10}, [1, 2, 4, 5]),
        ({"competency": "DS-1", "delivery_mode": "online"}, []),
    ],
)
async def test_employer_search_filters(
    http: httpx.AsyncClient, params: dict[str, Any], expected: list[int]
) -> None:
    for n in (1, 2, 3, 4):
        await consent(http, n)
    await consent(http, 5, GRACE)
    answer = await http.get("/v1/search", params=params)
    assert sorted(ids(answer)) == [cid(n) for n in expected]
    statuses = {c["id"]: c["status"] for c in answer.json()["credentials"]}
    assert statuses.get(cid(2), "revoked") == "revoked"  # live status


@pytest.mark.parametrize(
    "query",
    [
        "",
        "status=active",
        "accredited=false",
        "competency=%20",
        "competency=DS-1&cursor=bogus",
        "competency=DS-1&cursor=issuer.0.0",
        "competency=DS-1&status=gone",
        "min_hours=-1",
    ],
)
async def test_a_search_without_a_filter_or_with_a_foreign_cursor_is_a_4xx_problem(
    http: httpx.AsyncClient, query: str
) -> None:
    answer = await http.get(f"/v1/search?{query}")
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_search_pages_are_bounded_and_the_cursor_finds_the_rest(world: World) -> None:
    holders = InMemoryHolderStore()
    sharing = HolderSharing(documents=world.view, holders=holders)
    # 300 searchable plain credentials, then one accredited: a search for both markers walks
    # the short list (accredited) first.
    await world.feed(*[issued(1000 + n, f"did:example:h{n}", plain=True) for n in range(300)])
    await world.feed(issued(2000, "did:example:last"))
    app = build_app(
        SETTINGS, fakes=Adapters(documents=world.view, store=world.view, holders=holders)
    )
    from credreg_registry.domain import Caller

    for n in range(300):
        await sharing.set_searchable(cid(1000 + n), Caller(holder_id=f"did:example:h{n}"), True)
    await sharing.set_searchable(cid(2000), Caller(holder_id="did:example:last"), True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        both = await client.get(
            "/v1/search", params={"delivery_mode": "blended", "competency_based": "true"}
        )
        assert ids(both) == [cid(2000)] and both.json()["examined"] == 1
        seen: list[str] = []
        params: dict[str, Any] = {"delivery_mode": "in-person", "limit": 100}
        pages = 0
        while True:
            answer = await client.get("/v1/search", params=params)
            seen += ids(answer)
            pages += 1
            assert answer.json()["examined"] <= 2000
            if answer.json()["next_cursor"] is None:
                break
            params["cursor"] = answer.json()["next_cursor"]
        assert seen == [cid(1000 + n) for n in range(300)] and pages == 3
        # Only the accredited one passes; the first page looks at its bound of 200 only.
        narrow = {"delivery_mode": "in-person", "min_hours": 1, "limit": 5, "issuer": UNI}
        first = await client.get("/v1/search", params={**narrow, "competency_based": "true"})
        assert ids(first) == [] and first.json()["next_cursor"] is None
    postings = holders.collections[SEARCH_POSTINGS]
    assert all(len(chunk["ids"]) <= 100 for chunk in postings.values())


async def test_only_the_holder_consents(http: httpx.AsyncClient) -> None:
    path = f"/v1/credentials/{cid(1)}/searchable"
    body = {"searchable": True}
    assert (await http.put(path, json=body)).status_code == 401
    as_issuer = {"Authorization": "Bearer uni-key"}
    assert (await http.put(path, json=body, headers=as_issuer)).status_code == 403
    assert (await http.put(path, json=body, headers=token(GRACE))).status_code == 404
    unknown = f"/v1/credentials/{cid(99)}/searchable"
    assert (await http.put(unknown, json=body, headers=token(ADA))).status_code == 404
    assert (
        await http.put(path, json={"searchable": "maybe"}, headers=token(ADA))
    ).status_code == 422


# --- share links ------------------------------------------------------------------------------


LINKS = f"/v1/holders/{ADA}/share-links"


async def test_a_share_link_shows_the_chosen_credentials_until_it_is_revoked(
    http: httpx.AsyncClient, world: World
) -> None:
    made = await http.post(
        LINKS,
        json={"credential_ids": [cid(1), cid(2)], "expires_in_days": 7, "label": "Acme"},
        headers=token(ADA),
    )
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["url"] == f"/shared/{link['secret']}" and len(link["secret"]) >= 40
    assert link["secret"] not in str(world.holders.collections[SHARE_LINKS])
    shared = await http.get(f"/v1/shared/{link['secret']}")
    assert shared.status_code == 200, shared.text
    shown = shared.json()
    assert [c["id"] for c in shown["credentials"]] == [cid(1), cid(2)]
    assert [c["verification"]["status"] for c in shown["credentials"]] == ["active", "revoked"]
    assert shown["credentials"][0]["credential"]["id"] == cid(1)
    assert cid(3) not in shared.text
    listed = await http.get(LINKS, headers=token(ADA))
    assert [(x["id"], x["label"], x["in_force"]) for x in listed.json()] == [
        (link["id"], "Acme", True)
    ]
    assert "secret" not in listed.text
    revoked = await http.delete(f"{LINKS}/{link['id']}", headers=token(ADA))
    assert revoked.status_code == 204
    gone = await http.get(f"/v1/shared/{link['secret']}")
    never = await http.get("/v1/shared/" + "x" * 43)
    assert gone.status_code == never.status_code == 404
    assert gone.json()["detail"] == never.json()["detail"]
    assert [x["in_force"] for x in (await http.get(LINKS, headers=token(ADA))).json()] == [False]


async def test_an_expired_share_link_is_a_404(world: World) -> None:
    now = [START]
    sharing = HolderSharing(documents=world.view, holders=world.holders, clock=lambda: now[0])
    from credreg_registry.domain import Caller
    from credreg_registry.sharing import ShareLinkNotFound

    made = await sharing.create_link(ADA, Caller(holder_id=ADA), [cid(1)], days=1)
    assert (await sharing.open_link(made.secret)).credentials[0].id == cid(1)
    now[0] = START + timedelta(days=1)
    with pytest.raises(ShareLinkNotFound):
        await sharing.open_link(made.secret)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"credential_ids": [cid(1)]}, 401),
        ({"Authorization": "Bearer uni-key"}, {"credential_ids": [cid(1)]}, 403),
        ("grace", {"credential_ids": [cid(1)]}, 403),
        ("ada", {"credential_ids": [cid(5)]}, 422),
        ("ada", {"credential_ids": [cid(99)]}, 422),
        ("ada", {"credential_ids": []}, 422),
        ("ada", {"credential_ids": [cid(1)], "expires_in_days": 0}, 422),
        ("ada", {"credential_ids": [cid(1)], "expires_in_days": 366}, 422),
    ],
)
async def test_share_links_are_the_holders_own(
    http: httpx.AsyncClient, headers: Any, body: dict[str, Any], status: int
) -> None:
    sent = (
        {"ada": token(ADA), "grace": token(GRACE)}[headers] if isinstance(headers, str) else headers
    )
    answer = await http.post(LINKS, json=body, headers=sent)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_another_holder_cannot_revoke_a_link(http: httpx.AsyncClient) -> None:
    made = (await http.post(LINKS, json={"credential_ids": [cid(1)]}, headers=token(ADA))).json()
    other = f"/v1/holders/{GRACE}/share-links/{made['id']}"
    assert (await http.delete(other, headers=token(GRACE))).status_code == 404
    assert (await http.delete(f"{LINKS}/{made['id']}", headers=token(GRACE))).status_code == 403
    assert (await http.get(f"/v1/shared/{made['secret']}")).status_code == 200


async def test_a_holder_keeps_at_most_fifty_links_in_force(world: World) -> None:
    from credreg_registry.domain import Caller
    from credreg_registry.sharing import TooManyShareLinks

    sharing = HolderSharing(documents=world.view, holders=world.holders)
    ada = Caller(holder_id=ADA)
    made = [await sharing.create_link(ADA, ada, [cid(1)], days=1) for _ in range(50)]
    with pytest.raises(TooManyShareLinks):
        await sharing.create_link(ADA, ada, [cid(1)], days=1)
    await sharing.revoke_link(ADA, ada, made[0].id)
    newest = await sharing.create_link(ADA, ada, [cid(1)], days=1)
    listed = await sharing.links(ADA, ada)
    assert len(listed) == 50 and newest.id in {link.id for link in listed}
    assert made[0].id not in {link.id for link in listed}  # the revoked one was pruned


async def test_a_failed_posting_releases_its_claim_so_the_next_consent_posts(
    world: World,
) -> None:
    from credreg_registry.domain import Caller
    from credreg_registry.sharing import EmployerSearch, SearchFilters
    from credreg_shared.errors import StorageUnavailable

    class Flaky(InMemoryHolderStore):
        failures = 1

        async def append_posting(self, key: str, credential_id: str) -> None:
            if self.failures:
                self.failures -= 1
                raise StorageUnavailable("the database did not answer")
            await super().append_posting(key, credential_id)

    holders = Flaky()
    sharing = HolderSharing(documents=world.view, holders=holders)
    search = EmployerSearch(documents=world.view, holders=holders)
    with pytest.raises(StorageUnavailable):
        await sharing.set_searchable(cid(1), Caller(holder_id=ADA), True)
    assert (await search.search(SearchFilters(competency="DS-1"))).credentials == []
    await sharing.set_searchable(cid(1), Caller(holder_id=ADA), True)
    found = await search.search(SearchFilters(competency="DS-1"))
    assert [c.id for c in found.credentials] == [cid(1)]
