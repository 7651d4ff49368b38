"""Kafka ingress over the real broker: a registrar's producer (the README's) asks for a credential
on its institution's topic and gets the answer on the results topic; a redelivered request is
answered the same with no second credential; a poison record goes to the dead-letter topic and
is answered rejected; a request on another institution's topic is rejected."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from credreg_issuer.bootstrap import build_app
from credreg_issuer.settings import IssuerSettings
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.events import CREDENTIALS_TOPIC, ISSUANCE_RESULTS_TOPIC, dlq_topic, models
from credreg_shared.events.topics import issuance_requests_topic
from credreg_shared.testing import (
    SettingsFactory,
    delete_topics,
    eventually,
    read_log,
    read_records,
    serving,
)

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-key-for-tests"}
SAMPLE = Path(__file__).resolve().parents[3] / "docs" / "samples" / "registrar_producer.py"


def registrar_producer() -> Any:
    """The producer the README shows, loaded from its file."""
    spec = importlib.util.spec_from_file_location("registrar_producer", SAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command(holder: str) -> dict[str, Any]:
    return {
        "holder_id": holder,
        "achievement": {"name": "First Aid", "competencies": [{"name": "CPR"}]},
    }


async def test_requests_over_kafka_are_issued_once_and_answered(
    service_settings: SettingsFactory,
) -> None:
    settings: IssuerSettings = await service_settings(
        IssuerSettings,
        admin_api_key="admin-key-for-tests",
        key_encryption_key=f"k1:{KeyEncryptionKeyring.generate_kek()}",
        did_web_host="issuer.example",
    )
    bootstrap = settings.kafka_bootstrap_servers
    requests_a = settings.topic(issuance_requests_topic("uni-a"))
    results_topic = settings.topic(ISSUANCE_RESULTS_TOPIC)
    produce = registrar_producer().request_credential
    try:
        async with serving(build_app(settings), base_url="http://issuer") as client:
            for slug in ("uni-a", "uni-b"):
                created = await client.post(
                    "/v1/institutions", json={"slug": slug, "name": slug}, headers=ADMIN
                )
                assert created.status_code == 201, created.text
            uni_a = "did:web:issuer.example:institutions:uni-a"
            uni_b = "did:web:issuer.example:institutions:uni-b"
            first = f"sis-{uuid.uuid4()}"
            request = {"request_id": first, "institution_id": uni_a, "credential": command("s-1")}
            await produce(bootstrap, requests_a, request)
            await produce(bootstrap, requests_a, request)  # sent twice by the registrar
            wrong = f"sis-{uuid.uuid4()}"
            await produce(
                bootstrap,
                requests_a,
                {"request_id": wrong, "institution_id": uni_b, "credential": command("s-2")},
            )
            async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
                await producer.send_and_wait(requests_a, b"not json", key=b"poison-1")

            async def answers() -> dict[str, list[models.IssuanceResult]] | None:
                found: dict[str, list[models.IssuanceResult]] = {}
                for _, envelope in await read_log(bootstrap, results_topic, 3):
                    result = envelope.data_as(models.IssuanceResult)
                    found.setdefault(result.request_id, []).append(result)
                done = len(found.get(first, [])) >= 2 and wrong in found and "poison-1" in found
                return found if done else None

            found = await eventually(answers, "the answers on the results topic", patience=90)
            dead = await read_records(bootstrap, dlq_topic(requests_a), settings.topic_partitions)
    finally:
        await delete_topics(
            bootstrap,
            [
                t
                for slug in ("uni-a", "uni-b")
                for t in (
                    settings.topic(issuance_requests_topic(slug)),
                    dlq_topic(settings.topic(issuance_requests_topic(slug))),
                )
            ]
            + [results_topic, dlq_topic(results_topic)],
        )

    accepted = found[first]
    assert [a.status for a in accepted] == ["accepted", "accepted"]
    assert accepted[0].credential_id == accepted[1].credential_id
    assert found[wrong][0].status == "rejected"
    assert found[wrong][0].errors[0].field == "institution_id"
    assert found["poison-1"][0].status == "rejected"
    assert found["poison-1"][0].institution_id == uni_a
    # The poison record kept as it was, with the reason, on the topic's dead-letter topic.
    assert [(r.key, r.value) for r in dead] == [(b"poison-1", b"not json")]
    assert dict(dead[0].headers)["credreg_error_type"].startswith(b"invalid_event.")
    log = await read_log(bootstrap, settings.topic(CREDENTIALS_TOPIC), settings.topic_partitions)
    issued = {e.data_as(models.CredentialIssued).credential_id for _, e in log}
    assert issued == {accepted[0].credential_id}
