"""The issuer's `Location` names a route that answers: the registry's view of the credential."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.projection import CredentialProjection
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent

from .apps import INSTITUTION_KEY, issuer, registry

ISSUER_URL = "http://localhost:8001"
REGISTRY_URL = "http://localhost:8002"
"""Where `make up` serves them."""

AS_INSTITUTION = {"Authorization": f"Bearer {INSTITUTION_KEY}"}
BODY = {
    "holder_id": "did:example:ada",
    "achievement": {"name": "Data Literacy", "competencies": [{"name": "Read charts"}]},
}


async def project(publisher: InMemoryPublisher, view: InMemoryView) -> None:
    """The registry reads what the issuer published."""
    events = [
        ConsumedEvent(envelope, "credreg.credentials", 0, offset)
        for offset, envelope in enumerate(publisher.envelopes())
    ]
    await CredentialProjection(view).apply(events)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="default"),
        pytest.param({"credentials_url": f"{REGISTRY_URL}/v1/credentials"}, id="configured"),
    ],
)
async def test_following_the_location_of_an_issued_credential_answers_it(
    changes: dict[str, Any],
) -> None:
    publisher, view = InMemoryPublisher(), InMemoryView()
    mounts = {
        ISSUER_URL: httpx.ASGITransport(app=issuer(publisher, **changes)),
        REGISTRY_URL: httpx.ASGITransport(app=registry(view)),
    }
    async with httpx.AsyncClient(mounts=mounts, base_url=ISSUER_URL) as client:
        issued = await client.post("/v1/credentials", json=BODY, headers=AS_INSTITUTION)
        assert issued.status_code == 201, issued.text
        await project(publisher, view)
        followed = await client.get(issued.headers["location"], headers=AS_INSTITUTION)

    assert followed.status_code == 200, followed.text
    assert followed.json()["id"] == issued.json()["id"]
