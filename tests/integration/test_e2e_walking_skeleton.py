"""One credential's whole journey over real processes, Kafka and MongoDB: issue → view → revoke
→ view → a signed webhook; refusals; and a poison record on the log."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from standardwebhooks.webhooks import Webhook

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Eventually = Callable[..., Awaitable[Any]]
UNI_A = {"Authorization": "Bearer key-uni-a"}
UNI_B = {"Authorization": "Bearer key-uni-b"}


def issue_body(holder_id: str, name: str = "Applied Machine Learning") -> dict[str, Any]:
    """A minimal valid issue request."""
    return {
        "holder_id": holder_id,
        "achievement": {"name": name, "competencies": [{"name": "Train supervised models"}]},
    }


async def issue(client: httpx.AsyncClient, stack: Any, holder_id: str) -> str:
    """Issue one credential as uni-a; return its id."""
    response = await client.post(
        f"{stack.url('issuer')}/v1/credentials", json=issue_body(holder_id), headers=UNI_A
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def registry_status(client: httpx.AsyncClient, stack: Any, credential_id: str) -> Any:
    """The registry's status of a credential, or None while it does not know it."""
    response = await client.get(
        f"{stack.url('registry')}/v1/credentials/{credential_id}", headers=UNI_A
    )
    return response.json()["status"] if response.status_code == 200 else None


async def registry_status_is(
    client: httpx.AsyncClient, stack: Any, credential_id: str, wanted: str
) -> str | None:
    """A probe for `eventually`: `wanted` once the registry shows that status, else None."""
    return wanted if await registry_status(client, stack, credential_id) == wanted else None


async def revoke(
    client: httpx.AsyncClient, stack: Any, credential_id: str, headers: dict[str, str]
) -> httpx.Response:
    """Ask the revocation service to revoke."""
    return await client.post(
        f"{stack.url('revocation')}/v1/credentials/{credential_id}/revocation",
        json={"reason": "competency out of date"},
        headers=headers,
    )


async def revoke_once_known(
    client: httpx.AsyncClient,
    stack: Any,
    credential_id: str,
    headers: dict[str, str],
    eventually: Eventually,
) -> httpx.Response:
    """Revoke as soon as the revocation service's view knows the credential (not 404)."""

    async def attempt() -> httpx.Response | None:
        response = await revoke(client, stack, credential_id, headers)
        return None if response.status_code == 404 else response

    answer: httpx.Response = await eventually(attempt)
    return answer


async def test_issue_view_revoke_and_exactly_one_signed_webhook(
    stack: Any, webhook_receiver: Any, eventually: Eventually
) -> None:
    holder = f"did:example:{uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=30) as client:
        # As the institution: it hears of the credentials it issues to this holder.
        subscription = await client.post(
            f"{stack.url('notifier')}/v1/subscriptions",
            json={"holder_id": holder, "url": webhook_receiver.url},
            headers=UNI_A,
        )
        assert subscription.status_code == 201, subscription.text
        secret = subscription.json()["secret"]

        credential_id = await issue(client, stack, holder)
        await eventually(lambda: registry_status_is(client, stack, credential_id, "active"))
        portfolio = await client.get(
            f"{stack.url('registry')}/v1/holders/{holder}/credentials", headers=UNI_A
        )
        assert [c["id"] for c in portfolio.json()["credentials"]] == [credential_id]

        answer = await revoke_once_known(client, stack, credential_id, UNI_A, eventually)
        assert answer.status_code == 202, answer.text

        await eventually(lambda: registry_status_is(client, stack, credential_id, "revoked"))
        again = await revoke(client, stack, credential_id, UNI_A)
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")

        deliveries_url = (
            f"{stack.url('notifier')}/v1/subscriptions/{subscription.json()['id']}/deliveries"
        )

        async def all_delivered() -> list[Any] | None:
            found = (await client.get(deliveries_url, headers=UNI_A)).json()["deliveries"]
            return found if found and all(d["status"] == "delivered" for d in found) else None

        deliveries = await eventually(all_delivered)
        received = webhook_receiver.received()
    assert len(deliveries) == 1, deliveries
    assert len(received) == 1, f"expected one notice, got {len(received)}"
    headers, body = received[0]
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "org.credreg.credential.revoked.v1"
    assert payload["data"]["credential_id"] == credential_id
    assert payload["data"]["reason"] == "competency out of date"
    with pytest.raises(Exception, match="No matching signature found"):
        Webhook("whsec_" + "A" * 44).verify(body, headers)


async def test_revoking_another_issuers_credential_is_refused_and_changes_nothing(
    stack: Any, eventually: Eventually
) -> None:
    holder = f"did:example:{uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=30) as client:
        credential_id = await issue(client, stack, holder)
        refused = await revoke_once_known(client, stack, credential_id, UNI_B, eventually)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        await eventually(lambda: registry_status_is(client, stack, credential_id, "active"))
        # Still revocable by its issuer: the refused attempt claimed nothing.
        owner = await revoke(client, stack, credential_id, UNI_A)
        assert owner.status_code == 202, owner.text
        unknown = await revoke(client, stack, f"urn:uuid:{uuid.uuid4()}", UNI_A)
        assert unknown.status_code == 404
        no_key = await revoke(client, stack, credential_id, {})
        assert no_key.status_code == 401


async def test_bad_issue_requests_get_problem_details(stack: Any) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        invalid = await client.post(
            f"{stack.url('issuer')}/v1/credentials", json={"holder_id": ""}, headers=UNI_A
        )
        unauthenticated = await client.post(
            f"{stack.url('issuer')}/v1/credentials", json=issue_body("did:example:x")
        )
    assert invalid.status_code == 422
    assert invalid.headers["content-type"].startswith("application/problem+json")
    assert {tuple(e["loc"]) for e in invalid.json()["errors"]} >= {
        ("body", "holder_id"),
        ("body", "achievement"),
    }
    assert unauthenticated.status_code == 401


async def test_poison_record_goes_to_the_dlq_and_the_next_record_is_processed(
    stack: Any, endpoints: Any, eventually: Eventually
) -> None:
    topic = f"{stack.base_env['CREDREG_TOPIC_NAMESPACE']}credreg.credentials"
    poison_key = f"poison-{uuid.uuid4().hex}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, b"{not json", key=poison_key, headers=[("ce_type", b"garbage")]
        )
    finally:
        await producer.stop()

    holder = f"did:example:{uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=30) as client:
        credential_id = await issue(client, stack, holder)
        await eventually(lambda: registry_status_is(client, stack, credential_id, "active"))

    registry_group = stack.env_for("registry")["CREDREG_CONSUMER_GROUP"]
    dead = await eventually(
        lambda: _dead_letter(endpoints, f"{topic}.dlq", poison_key, registry_group)
    )
    headers = {k: v.decode() for k, v in dead.headers}
    assert dead.value == b"{not json"
    assert headers["credreg_source_topic"] == topic
    assert int(headers["credreg_source_offset"]) >= 0
    assert int(headers["credreg_source_partition"]) >= 0
    assert headers["credreg_error"]


async def _dead_letter(endpoints: Any, dlq: str, key: bytes, group: str) -> Any:
    """The DLQ record of `key` written by consumer group `group`, or None."""
    consumer = AIOKafkaConsumer(
        dlq,
        bootstrap_servers=endpoints.kafka_bootstrap,
        group_id=f"reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=3000)
        for record in (r for part in batch.values() for r in part):
            headers = dict(record.headers)
            if record.key == key and headers.get("credreg_consumer_group") == group.encode():
                return record
        return None
    finally:
        await consumer.stop()


async def subscribe_and_revoke(
    client: httpx.AsyncClient, stack: Any, url: str, eventually: Eventually
) -> tuple[str, str]:
    """Subscribe `url` to a new holder, issue and revoke one credential; (subscription, secret)."""
    holder = f"did:example:{uuid.uuid4().hex}"
    created = await client.post(
        f"{stack.url('notifier')}/v1/subscriptions",
        json={"holder_id": holder, "url": url},
        headers=UNI_A,
    )
    assert created.status_code == 201, created.text
    credential_id = await issue(client, stack, holder)
    answer = await revoke_once_known(client, stack, credential_id, UNI_A, eventually)
    assert answer.status_code == 202, answer.text
    return created.json()["id"], created.json()["secret"]


async def final_deliveries(
    client: httpx.AsyncClient, stack: Any, subscription_id: str, eventually: Eventually
) -> list[Any]:
    """The subscription's deliveries once none is pending or in flight any more."""
    url = f"{stack.url('notifier')}/v1/subscriptions/{subscription_id}/deliveries"

    async def finished() -> list[Any] | None:
        found = (await client.get(url, headers=UNI_A)).json()["deliveries"]
        done = found and all(d["status"] in ("delivered", "dead") for d in found)
        return found if done else None

    result: list[Any] = await eventually(finished)
    return result


async def test_a_failing_wallet_gets_the_notice_on_a_retry_with_the_same_webhook_id(
    stack: Any, webhook_receiver: Any, eventually: Eventually
) -> None:
    webhook_receiver.status_codes.extend([500, 503])
    async with httpx.AsyncClient(timeout=30) as client:
        subscription, secret = await subscribe_and_revoke(
            client, stack, webhook_receiver.url, eventually
        )
        [delivery] = await final_deliveries(client, stack, subscription, eventually)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    received = webhook_receiver.received()
    assert len(received) == 3
    assert len({headers["webhook-id"] for headers, _ in received}) == 1
    headers, body = received[-1]
    assert Webhook(secret).verify(body, headers)["type"] == "org.credreg.credential.revoked.v1"


async def test_a_wallet_that_stays_down_ends_as_a_dead_letter_visible_in_the_api(
    stack: Any, webhook_receiver: Any, eventually: Eventually
) -> None:
    webhook_receiver.status_codes.extend([500] * 10)
    async with httpx.AsyncClient(timeout=30) as client:
        subscription, _ = await subscribe_and_revoke(
            client, stack, webhook_receiver.url, eventually
        )
        [delivery] = await final_deliveries(client, stack, subscription, eventually)
    assert delivery["status"] == "dead"
    assert delivery["attempts"] == 4
    assert delivery["last_error"] == "HTTP 500"
    assert len(webhook_receiver.received()) == 4
