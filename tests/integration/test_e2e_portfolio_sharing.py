"""A learner's portfolio, consent to employer search, share links and pages over real processes
(issuer, revocation, registry) on real Kafka and the MongoDB-wire server: credentials issued
through the issuer's API, revoked through the revocation service, read back filtered, found by
employers only once the holder consents, shared by a link that 404s once revoked."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

Eventually = Callable[..., Awaitable[Any]]
UNI_A = {"Authorization": "Bearer key-uni-a"}
UNI_B = {"Authorization": "Bearer key-uni-b"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def issue(
    client: httpx.AsyncClient, issuer: str, holder: str, key: dict[str, str], **achievement: Any
) -> str:
    body = {"holder_id": holder, "achievement": achievement}
    answer = await client.post(f"{issuer}/v1/credentials", json=body, headers=key)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_portfolio_search_and_share_links_over_the_real_stack(
    empty_stack: Any, eventually: Eventually
) -> None:
    for name in ("issuer", "revocation", "registry"):
        empty_stack.start(name)
    issuer, registry = empty_stack.url("issuer"), empty_stack.url("registry")
    revocation = empty_stack.url("revocation")
    holder, stranger = f"did:example:{uuid.uuid4().hex}", f"did:example:{uuid.uuid4().hex}"
    code = f"DS-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=30) as client:
        data = await issue(
            client,
            issuer,
            holder,
            UNI_A,
            name="Applied Data Analysis",
            competencies=[{"name": "Clean data", "code": code}],
            hours="42.5",
            delivery_mode="blended",
            accreditations=[
                {"accreditor": {"id": "https://quality.example.org", "name": "Quality Board"}}
            ],
            industry_partners=[{"id": "https://partner.example.com", "name": "Partner Inc."}],
        )
        cpr = await issue(
            client,
            issuer,
            holder,
            UNI_B,
            name="CPR",
            competencies=[{"name": "Adult CPR", "code": "FA-1"}],
            hours="8",
            delivery_mode="in-person",
        )
        old = await issue(
            client, issuer, holder, UNI_A, name="Old", competencies=[{"name": "Old", "code": code}]
        )
        theirs = await issue(
            client,
            issuer,
            stranger,
            UNI_A,
            name="Theirs",
            competencies=[{"name": "x", "code": code}],
        )

        async def minted_for(who: str) -> dict[str, str] | None:
            # 404 until the registry has read a credential UNI_A issued to `who`.
            minted = await client.post(f"{registry}/v1/holders/{who}/tokens", headers=UNI_A)
            assert minted.status_code in (201, 404), minted.text
            return bearer(minted.json()["token"]) if minted.status_code == 201 else None

        token = await eventually(lambda: minted_for(holder))
        their_token = await eventually(lambda: minted_for(stranger))
        portfolio = f"{registry}/v1/holders/{holder}/credentials"

        async def listed(**params: Any) -> list[str] | None:
            answer = await client.get(portfolio, params=params, headers=token)
            assert answer.status_code == 200, answer.text
            found = [c["id"] for c in answer.json()["credentials"]]
            return found if len(found) == 3 else None

        oldest = await eventually(listed)
        assert sorted(oldest) == sorted([data, cpr, old])
        newest = await listed(sort="newest")
        assert newest == oldest[::-1]

        revoked = await client.post(
            f"{revocation}/v1/credentials/{old}/revocation",
            json={"reason": "out of date"},
            headers=UNI_A,
        )
        assert revoked.status_code == 202, revoked.text

        async def revoked_shown() -> list[str] | None:
            answer = await client.get(portfolio, params={"status": "revoked"}, headers=token)
            found = [c["id"] for c in answer.json()["credentials"]]
            return found or None

        assert await eventually(revoked_shown) == [old]
        by_competency = await client.get(
            portfolio, params={"competency": code.lower(), "status": "active"}, headers=token
        )
        assert [c["id"] for c in by_competency.json()["credentials"]] == [data]
        bad = await client.get(portfolio, params={"cursor": "not-a-cursor"}, headers=token)
        assert bad.status_code == 400
        assert bad.headers["content-type"].startswith("application/problem+json")

        # Employer search: nothing until the holders consent; then only what they consented to.
        search = f"{registry}/v1/search"
        assert (await client.get(search, params={"competency": code})).json()["credentials"] == []
        for credential, who in ((data, token), (old, token), (theirs, their_token)):
            consent = await client.put(
                f"{registry}/v1/credentials/{credential}/searchable",
                json={"searchable": True},
                headers=who,
            )
            assert consent.status_code == 200, consent.text
        refused = await client.put(
            f"{registry}/v1/credentials/{cpr}/searchable", json={"searchable": True}, headers=UNI_B
        )
        assert refused.status_code == 403
        found = (await client.get(search, params={"competency": code})).json()["credentials"]
        assert sorted(c["id"] for c in found) == sorted([data, old, theirs])
        assert {c["id"]: c["status"] for c in found}[old] == "revoked"
        assert holder not in str(found) and stranger not in str(found)
        quality = await client.get(
            search,
            params={
                "accredited_by": "Quality Board",
                "industry_aligned": "true",
                "min_hours": 40,
                "delivery_mode": "blended",
            },
        )
        assert [c["id"] for c in quality.json()["credentials"]] == [data]
        assert (await client.get(search)).status_code == 400
        withdrawn = await client.put(
            f"{registry}/v1/credentials/{theirs}/searchable",
            json={"searchable": False},
            headers=their_token,
        )
        assert withdrawn.status_code == 200
        found = (await client.get(search, params={"competency": code})).json()["credentials"]
        assert sorted(c["id"] for c in found) == sorted([data, old])

        # A share link: opens without auth, shows the live status, 404s once revoked.
        made = await client.post(
            f"{registry}/v1/holders/{holder}/share-links",
            json={"credential_ids": [data, old], "expires_in_days": 3, "label": "Acme"},
            headers=token,
        )
        assert made.status_code == 201, made.text
        link = made.json()
        shared = await client.get(f"{registry}/v1/shared/{link['secret']}")
        assert shared.status_code == 200, shared.text
        statuses = {c["id"]: c["verification"]["status"] for c in shared.json()["credentials"]}
        assert statuses == {data: "active", old: "revoked"}
        page = await client.get(f"{registry}{link['url']}")
        assert page.status_code == 200 and "Applied Data Analysis" in page.text
        assert page.headers["content-type"].startswith("text/html")
        listed_links = await client.get(
            f"{registry}/v1/holders/{holder}/share-links", headers=token
        )
        assert [x["id"] for x in listed_links.json()] == [link["id"]]
        gone = await client.delete(
            f"{registry}/v1/holders/{holder}/share-links/{link['id']}", headers=token
        )
        assert gone.status_code == 204
        assert (await client.get(f"{registry}/v1/shared/{link['secret']}")).status_code == 404
        assert (await client.get(f"{registry}{link['url']}")).status_code == 404

        # The verify page by id answers a page (its checks), never a 500.
        verify = await client.get(f"{registry}/verify", params={"id": data})
        assert verify.status_code == 200 and "Proof" in verify.text
