"""Institutions over the real Kafka and MongoDB-wire server: keys survive a restart sealed,
rotations race safely, and a wrong key-encryption key refuses to start."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from credreg_issuer.adapters.mongo import MongoInstitutions
from credreg_issuer.bootstrap import build_app
from credreg_issuer.institutions import KeyringUnusable
from credreg_issuer.settings import IssuerSettings
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.testing import SettingsFactory, read_log, serving

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
        created = await client.post(
            "/v1/institutions", json={"slug": "uni-a", "name": "University A"}, headers=ADMIN
        )
        assert created.status_code == 201, created.text
        keys = await client.post(f"/v1/institutions/{DID}/api-keys", json={}, headers=ADMIN)
        key = keys.json()["key"]
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
        created = await client.post(
            "/v1/institutions", json={"slug": "uni-a", "name": "University A"}, headers=ADMIN
        )
        assert created.status_code == 201, created.text

    wrong = settings.model_copy(
        update={
            "key_encryption_key": IssuerSettings(
                admin_api_key="x", key_encryption_key=f"k1:{KeyEncryptionKeyring.generate_kek()}"
            ).key_encryption_key
        }
    )
    with pytest.raises(KeyringUnusable, match=f"cannot open {DID}#key-1"):
        async with serving(build_app(wrong), base_url="http://issuer"):
            pass
    missing = settings.model_copy(update={"key_encryption_key": None, "admin_api_key": None})
    with pytest.raises(KeyringUnusable, match="CREDREG_KEY_ENCRYPTION_KEY is not set"):
        async with serving(build_app(missing), base_url="http://issuer"):
            pass
