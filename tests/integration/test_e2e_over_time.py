"""Credentials over time, over real processes, Kafka and MongoDB: reissue and supersede (the
registry links both ways, the wallet's notice names the replacement), and expiry (expiring and
expired notices with renewal instructions, a suspension past validUntil staying expired)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Eventually = Callable[..., Awaitable[Any]]
UNI_A = {"Authorization": "Bearer key-uni-a"}
EXPIRING = "org.credreg.credential.expiring.v1"
EXPIRED = "org.credreg.credential.expired.v1"
REVOKED = "org.credreg.credential.revoked.v1"


def issue_body(holder_id: str, name: str, valid_until: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "holder_id": holder_id,
        "achievement": {"name": name, "competencies": [{"name": "Adult CPR", "code": "FA-1"}]},
    }
    if valid_until is not None:
        body["valid_until"] = valid_until.isoformat()
    return body


async def issue(client: httpx.AsyncClient, stack: Any, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(f"{stack.url('issuer')}/v1/credentials", json=body, headers=UNI_A)
    assert answer.status_code == 201, answer.text
    issued: dict[str, Any] = answer.json()
    return issued


async def registry_view(client: httpx.AsyncClient, stack: Any, credential_id: str) -> Any:
    answer = await client.get(
        f"{stack.url('registry')}/v1/credentials/{credential_id}", headers=UNI_A
    )
    return answer.json() if answer.status_code == 200 else None


async def subscribe(client: httpx.AsyncClient, stack: Any, holder: str, url: str) -> str:
    created = await client.post(
        f"{stack.url('notifier')}/v1/subscriptions",
        json={"holder_id": holder, "url": url},
        headers=UNI_A,  # the institution hears of what it issued to this holder
    )
    assert created.status_code == 201, created.text
    secret: str = created.json()["secret"]
    return secret


def notices(receiver: Any, secret: str) -> list[dict[str, Any]]:
    """The verified notices the wallet received, in order."""
    return [Webhook(secret).verify(body, headers) for headers, body in receiver.received()]


async def test_reissue_and_supersede_links_both_ways_and_tells_the_wallet(
    stack: Any, webhook_receiver: Any, eventually: Eventually
) -> None:
    holder = f"did:example:{uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=30) as client:
        secret = await subscribe(client, stack, holder, webhook_receiver.url)
        old = (await issue(client, stack, issue_body(holder, "CPR (2025 guidelines)")))["id"]
        replacement = issue_body(holder, "CPR (2030 guidelines)")
        path = f"{stack.url('revocation')}/v1/credentials/{old}/supersession"

        async def superseded() -> httpx.Response | None:
            answer = await client.post(path, json={"replacement": replacement}, headers=UNI_A)
            return None if answer.status_code in (404, 503) else answer

        answer = await eventually(superseded)
        assert answer.status_code == 201, answer.text
        done = answer.json()
        new = done["replacement"]["id"]
        assert done["revocation"]["id"] == old and done["revocation"]["status"] == "revoked"
        again = await client.post(path, json={"replacement": replacement}, headers=UNI_A)
        assert again.status_code == 201, again.text
        assert again.json()["replacement"]["id"] == new, "a retry issues nothing twice"
        assert again.json()["revocation"] is None

        async def linked() -> tuple[Any, Any] | None:
            old_view = await registry_view(client, stack, old)
            new_view = await registry_view(client, stack, new)
            if old_view is None or new_view is None or old_view["status"] != "revoked":
                return None
            return (old_view, new_view) if new_view["supersedes"] == [old] else None

        old_view, new_view = await eventually(linked)
        assert old_view["revocation"]["superseded_by"] == new
        assert new_view["status"] == "active"
        verification = await client.get(
            f"{stack.url('registry')}/v1/credentials/{old}/verification"
        )
        assert verification.json()["superseded_by"] == new

        async def revocation_notice() -> dict[str, Any] | None:
            found = [n for n in notices(webhook_receiver, secret) if n["type"] == REVOKED]
            return found[0] if found else None

        notice = await eventually(revocation_notice)
        assert notice["data"]["credential_id"] == old
        assert notice["data"]["superseded_by"] == new


async def test_expiry_notices_with_renewal_reach_the_wallet_and_the_registry(
    stack: Any, webhook_receiver: Any, eventually: Eventually
) -> None:
    holder = f"did:example:{uuid.uuid4().hex}"
    name = f"First Aid {uuid.uuid4().hex[:6]}"
    revocation = stack.url("revocation")
    async with httpx.AsyncClient(timeout=30) as client:
        secret = await subscribe(client, stack, holder, webhook_receiver.url)
        policy = await client.put(
            f"{revocation}/v1/expiry-policy", json={"lead_days": [1]}, headers=UNI_A
        )
        assert policy.status_code == 200, policy.text
        # The achievement's id, as the issuer derives it (from a credential that never expires).
        first = await issue(client, stack, issue_body(holder, name))
        achievement = first["credential"]["credentialSubject"]["achievement"]["id"]
        renewal = {"url": "https://uni-a.example/renew/first-aid", "text": "Book a refresher."}
        put = await client.put(
            f"{revocation}/v1/achievements/{achievement}/renewal", json=renewal, headers=UNI_A
        )
        assert put.status_code == 200, put.text
        # Whole seconds: MongoDB keeps milliseconds.
        valid_until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        expiring = (await issue(client, stack, issue_body(holder, name, valid_until)))["id"]
        suspended = (await issue(client, stack, issue_body(holder, name, valid_until)))["id"]

        async def suspension() -> httpx.Response | None:
            answer = await client.post(
                f"{revocation}/v1/credentials/{suspended}/suspension", json={}, headers=UNI_A
            )
            return None if answer.status_code == 404 else answer

        assert (await eventually(suspension)).status_code == 202

        async def both_expired() -> list[Any] | None:
            views = [await registry_view(client, stack, i) for i in (expiring, suspended)]
            ok = all(v is not None and v["status"] == "expired" for v in views)
            return views if ok else None

        expired_view, _ = await eventually(both_expired)
        assert expired_view["renewal"] == renewal
        reinstated = await client.post(
            f"{revocation}/v1/credentials/{suspended}/reinstatement", headers=UNI_A
        )
        assert reinstated.status_code == 409, reinstated.text

        async def wallet_heard() -> list[dict[str, Any]] | None:
            found = [
                n
                for n in notices(webhook_receiver, secret)
                if n["type"] in (EXPIRING, EXPIRED) and n["data"]["credential_id"] == expiring
            ]
            return found if len(found) == 2 else None

        heard = await eventually(wallet_heard)
    assert [n["type"] for n in heard] == [EXPIRING, EXPIRED]
    assert heard[0]["data"]["lead_days"] == 1
    for notice in heard:
        assert notice["data"]["renewal"] == renewal
        assert datetime.fromisoformat(notice["data"]["valid_until"]) == valid_until
    kinds = [(n["type"], n["data"]["credential_id"]) for n in notices(webhook_receiver, secret)]
    assert kinds.count((EXPIRED, expiring)) == 1, json.dumps(kinds)
    assert (EXPIRING, suspended) not in kinds, "a suspended credential gets no expiring notice"
    assert (EXPIRED, suspended) in kinds
