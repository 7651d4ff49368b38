"""Institutions over the real Kafka and MongoDB-wire server: keys survive a restart sealed,
rotations race safely, a wrong key-encryption key refuses to start; status-list indices and
revocations hold across two replica processes, and a revocation on the log sets its bit."""

from __future__ import annotations

import asyncio
import json
import sys
from asyncio.subprocess import PIPE
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from credreg_issuer.adapters.mongo import MongoInstitutions, MongoStatusLists
from credreg_issuer.bootstrap import build_app
from credreg_issuer.institutions import KeyringUnusable
from credreg_issuer.settings import IssuerSettings
from credreg_issuer.status_lists import StatusList
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.messaging import KafkaPublisher
from credreg_shared.testing import SettingsFactory, eventually, read_log, serving

from .fixtures import body

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-key-for-tests"}
DID = "did:web:issuer.example:institutions:uni-a"


async def settings_for(service_settings: SettingsFactory, kek: str) -> IssuerSettings:
    settings: IssuerSettings = await service_settings(
        IssuerSettings,
        admin_api_key="admin-key-for-tests",
        key_encryption_key=kek,
        did_web_host="issuer.example",
    )
    return settings


async def institution_with_key(client: httpx.AsyncClient) -> str:
    """Create institution uni-a through the admin API; an API key of it (all scopes)."""
    created = await client.post(
        "/v1/institutions", json={"slug": "uni-a", "name": "University A"}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    made = await client.post(f"/v1/institutions/{DID}/api-keys", json={}, headers=ADMIN)
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    return key


async def issue(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/credentials", json=body(), headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 201, response.text
    credential: dict[str, Any] = response.json()["credential"]
    return credential


async def test_kept_keys_sign_after_a_restart_and_rotations_race_safely(
    service_settings: SettingsFactory, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    settings = await settings_for(service_settings, f"k1:{KeyEncryptionKeyring.generate_kek()}")
    async with serving(build_app(settings), base_url="http://issuer") as client:
        key = await institution_with_key(client)
        first = await issue(client, key)

    stored = await mongo_db["institutions"].find_one({"_id": DID})
    assert stored is not None
    assert "seed" not in str(stored) and "secretKeyMultibase" not in str(stored)

    # A new process with the same key-encryption key opens the sealed key again.
    async with serving(build_app(settings), base_url="http://issuer") as client:
        second = await issue(client, key)
        rotations = await asyncio.gather(
            *(client.post(f"/v1/institutions/{DID}/keys", headers=ADMIN) for _ in range(4))
        )
        third = await issue(client, key)
        document = (await client.get("/institutions/uni-a/did.json")).json()

    # Overlapping rotations lose the compare-and-set (409); none loses a key or reuses an id.
    statuses = [r.status_code for r in rotations]
    assert set(statuses) <= {201, 409} and 201 in statuses, statuses
    methods = [m["id"] for m in document["verificationMethod"]]
    assert methods == [f"{DID}#key-{n}" for n in range(1, 2 + statuses.count(201))]
    active = rotations[statuses.index(201)].json()["verification_methods"]
    assert [c["proof"][0]["verificationMethod"] for c in (first, second, third)] == [
        f"{DID}#key-1",
        f"{DID}#key-1",
        methods[-1],
    ]
    assert set(active) <= set(methods)
    # The compare-and-set itself: a rotation from a key that is no longer active changes nothing.
    stale = MongoInstitutions(mongo_db)
    kept = await stale.get(DID)
    assert kept is not None
    assert not await stale.add_key(DID, kept.keys[0], replacing="key-1")
    assert (await stale.get(DID)) == kept
    for credential in (first, second, third):
        report = verify_credential(credential, controller_documents={DID: document})
        assert report.check("proof").outcome is Outcome.PASSED, report.checks
        assert report.check("issuer").outcome is Outcome.PASSED, report.checks
    log = await read_log(
        settings.kafka_bootstrap_servers,
        settings.topic(CREDENTIALS_TOPIC),
        settings.topic_partitions,
    )
    on_log = [e.data_as(models.CredentialIssued).credential for _, e in log]
    # Keyed by credential id, so spread over partitions: compare without the order.
    assert sorted(on_log, key=lambda c: c["id"]) == sorted(
        [first, second, third], key=lambda c: c["id"]
    )


async def test_a_wrong_key_encryption_key_refuses_to_start(
    service_settings: SettingsFactory,
) -> None:
    settings = await settings_for(service_settings, f"k1:{KeyEncryptionKeyring.generate_kek()}")
    async with serving(build_app(settings), base_url="http://issuer") as client:
        await institution_with_key(client)

    wrong = settings.model_copy(
        update={"key_encryption_key": SecretStr(f"k1:{KeyEncryptionKeyring.generate_kek()}")}
    )
    with pytest.raises(KeyringUnusable, match=f"cannot open {DID}#key-1"):
        async with serving(build_app(wrong), base_url="http://issuer"):
            pytest.fail("the issuer started with a key-encryption key that opens no key")
    missing = settings.model_copy(update={"key_encryption_key": None, "admin_api_key": None})
    with pytest.raises(KeyringUnusable, match="CREDREG_KEY_ENCRYPTION_KEY is not set"):
        async with serving(build_app(missing), base_url="http://issuer"):
            pytest.fail("the issuer started without the key-encryption key")


async def replicas(*argvs: list[str]) -> list[Any]:
    """Run replica processes at once; their JSON answers."""
    script = Path(__file__).with_name("status_list_replica.py")
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(script), *argv, stdout=PIPE, stderr=PIPE
        )
        for argv in argvs
    ]
    answers = []
    for process in processes:
        out, err = await asyncio.wait_for(process.communicate(), timeout=240)
        assert process.returncode == 0, err.decode()
        answers.append(json.loads(out))
    return answers


async def test_two_replicas_never_claim_one_index_twice(
    endpoints: Any, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    # A list of 1,024 entries and 2 × 300 claims: most draws collide late, as on a full list.
    common = ["--uri", endpoints.mongodb_uri, "--database", mongo_db.name, "--list", "t-1"]
    first, second = await replicas(
        ["claim", *common, "--name", "a", "--count", "300"],
        ["claim", *common, "--name", "b", "--count", "300"],
    )
    assert len(set(first)) == 300 and len(set(second)) == 300
    assert not set(first) & set(second)
    assert await mongo_db["status_claims"].count_documents({}) == 600


async def test_held_names_the_claimed_indices_of_that_list_only(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = MongoStatusLists(mongo_db)
    assert await store.claim_many("t-1", {3: "urn:uuid:a", 70_000: "urn:uuid:b"}) == {3, 70_000}
    assert await store.claim_many("t-2", {5: "urn:uuid:c"}) == {5}
    assert await store.held("t-1", [3, 5, 9, 70_000]) == {3, 70_000}
    assert await store.held("t-2", [3, 5]) == {5}


async def test_two_replicas_revoking_1000_entries_of_one_list_lose_none(
    endpoints: Any, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    store = MongoStatusLists(mongo_db)
    await store.ensure_list(
        StatusList(id="t-1", institution=DID, number=1, updated_at=datetime.now(UTC))
    )
    common = ["--uri", endpoints.mongodb_uri, "--database", mongo_db.name, "--list", "t-1"]
    await replicas(
        ["revoke", *common, "--start", "0", "--count", "500"],
        ["revoke", *common, "--start", "500", "--count", "500"],
    )
    found = await store.get_list("t-1")
    assert found is not None
    assert sorted(found.revoked) == list(range(1000))
    assert found.version == 1000  # each index counted once


async def test_revocations_land_in_their_chunks_and_an_older_list_keeps_its_own_set(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = MongoStatusLists(mongo_db)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    # As lists were stored before the chunks: the revoked set inside the list document.
    await mongo_db["status_lists"].insert_one(
        StatusList(id="t-1", institution=DID, number=1, updated_at=t0).to_document()
        | {"revoked": [7], "version": 1}
    )
    later = [t0 + timedelta(minutes=n) for n in (1, 2, 3)]
    for index, at in zip((3, 70_000, 131_071), later, strict=True):
        await store.revoke("t-1", index, at)
    await store.revoke("t-1", 70_000, t0)  # a redelivery: counted once, the time kept
    found = await store.get_list("t-1")
    assert found is not None
    assert found.revoked == [3, 7, 70_000, 131_071]
    assert found.version == 4
    assert found.updated_at.replace(tzinfo=UTC) == later[-1]
    assert await mongo_db["status_list_revoked"].count_documents({}) == 3, "one per chunk"


async def test_a_revocation_on_the_log_sets_the_bit_in_the_served_list(
    service_settings: SettingsFactory,
) -> None:
    settings = await settings_for(service_settings, f"k1:{KeyEncryptionKeyring.generate_kek()}")
    settings = settings.model_copy(update={"status_list_base_url": "https://issuer.example"})
    async with serving(build_app(settings), base_url="http://issuer") as client:
        key = await institution_with_key(client)
        kept, revoked = [await issue(client, key) for _ in range(2)]
        url = revoked["credentialStatus"]["statusListCredential"]
        path = url.removeprefix("https://issuer.example")
        async with KafkaPublisher(settings.kafka_bootstrap_servers) as publisher:
            event = models.CredentialRevoked(
                credential_id=revoked["id"], issuer_id=DID, holder_id="did:example:ada", reason="x"
            )
            await publisher.publish(
                new_envelope(event, source="urn:test"), topic=settings.topic(CREDENTIALS_TOPIC)
            )

        async def bit_set() -> dict[str, Any] | None:
            served = (await client.get(path)).json()
            report = verify_credential(
                revoked,
                controller_documents={DID: document},
                status_list_credentials={url: served},
            )
            return served if report.check("revocation").outcome is Outcome.FAILED else None

        document = (await client.get("/institutions/uni-a/did.json")).json()
        served = await eventually(bit_set, "the revoked credential's bit in the served list")
        report = verify_credential(
            kept, controller_documents={DID: document}, status_list_credentials={url: served}
        )
        assert report.check("revocation").outcome is Outcome.PASSED
        assert report.check("proof").outcome is Outcome.PASSED


async def test_resealed_keys_let_the_old_key_encryption_key_go(
    service_settings: SettingsFactory,
) -> None:
    old, new = (f"{n}:{KeyEncryptionKeyring.generate_kek()}" for n in ("k1", "k2"))
    settings = await settings_for(service_settings, old)
    async with serving(build_app(settings), base_url="http://issuer") as client:
        key = await institution_with_key(client)
    both = settings.model_copy(update={"key_encryption_key": SecretStr(f"{new},{old}")})
    async with serving(build_app(both), base_url="http://issuer") as client:
        resealed = await client.post("/v1/key-encryption/reseal", headers=ADMIN)
        assert resealed.json() == {"resealed": 1, "active_kek": "k2"}
    only_new = settings.model_copy(update={"key_encryption_key": SecretStr(new)})
    async with serving(build_app(only_new), base_url="http://issuer") as client:
        credential = await issue(client, key)
        document = (await client.get("/institutions/uni-a/did.json")).json()
    report = verify_credential(credential, controller_documents={DID: document})
    assert report.check("proof").outcome is Outcome.PASSED
