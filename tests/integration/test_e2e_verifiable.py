"""Verifiable by anyone, over real processes: an institution created through the admin API
issues a signed credential with a status entry; the registry's verifier resolves its did:web
document and status list over HTTP and finds every check green; after a revocation through the
revocation service (with an API key kept by the issuer), the list served by the issuer says
revoked; revoking that key at the issuer makes the revocation service refuse it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from .conftest import ADMIN, Stack, create_institution, free_port, keep_institutions

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Eventually = Callable[..., Awaitable[Any]]
REGISTRAR = {"Authorization": "Bearer key-e2e-uni"}


def outcomes(answer: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["outcome"] for check in answer["checks"]}


async def test_a_credential_verifies_over_http_until_its_revocation_reaches_the_list(
    empty_stack: Stack, eventually: Eventually
) -> None:
    port = free_port()
    did = f"did:web:localhost%3A{port}:institutions:e2e-uni"
    keep_institutions(
        empty_stack,
        port,
        CREDREG_API_KEYS=json.dumps({"key-e2e-uni": did}),
        CREDREG_STATUS_LIST_BASE_URL=f"http://localhost:{port}",
        CREDREG_DID_WEB_HOSTS=json.dumps({f"localhost%3A{port}": f"http://127.0.0.1:{port}"}),
    )
    empty_stack.start("issuer", port=port)
    empty_stack.start("revocation")
    empty_stack.start("registry")
    async with httpx.AsyncClient(timeout=30) as client:
        assert await create_institution(client, empty_stack.url("issuer"), "e2e-uni", port) == did
        issued = await client.post(
            f"{empty_stack.url('issuer')}/v1/credentials",
            json={
                "holder_id": "did:example:e2e-learner",
                "achievement": {"name": "Verifiable", "competencies": [{"name": "Trust"}]},
            },
            headers=REGISTRAR,
        )
        assert issued.status_code == 201, issued.text
        credential = issued.json()["credential"]
        assert credential["proof"][0]["verificationMethod"] == f"{did}#key-1"
        assert credential["credentialStatus"]["statusPurpose"] == "revocation"

        async def verify() -> dict[str, Any]:
            answer = await client.post(f"{empty_stack.url('registry')}/v1/verify", json=credential)
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return found

        first = await verify()
        assert first["fetch_problems"] == []
        assert first["verified"] is True, first
        checks = outcomes(first)
        # The registry's own view may not have consumed the issuance yet.
        assert checks.pop("registry") in {"passed", "not-applicable"}
        assert checks == {
            "proof": "passed",
            "issuer": "passed",
            "validity": "passed",
            "revocation": "passed",
            "suspension": "not-applicable",
            "schema": "passed",
        }

        # A key kept by the issuer, scoped to revoke: the revocation service learns it from the
        # log (it answers 401 until then, and 404 until it has consumed the issuance).
        made = await client.post(
            f"{empty_stack.url('issuer')}/v1/institutions/{did}/api-keys",
            json={"scopes": ["revoke"], "label": "e2e"},
            headers=ADMIN,
        )
        assert made.status_code == 201, made.text
        kept = {"Authorization": f"Bearer {made.json()['key']}"}

        async def revoke(headers: dict[str, str], status: int) -> httpx.Response | None:
            answer = await client.post(
                f"{empty_stack.url('revocation')}/v1/credentials/{credential['id']}/revocation",
                json={"reason": "competency out of date"},
                headers=headers,
            )
            return answer if answer.status_code == status else None

        await eventually(lambda: revoke(kept, 202))

        async def says_revoked() -> dict[str, Any] | None:
            answer = await verify()
            return answer if outcomes(answer)["revocation"] == "failed" else None

        last = await eventually(says_revoked)
        assert last["verified"] is False
        assert outcomes(last)["proof"] == "passed"  # the list's own proof holds, too

        # Revoking the key at the issuer reaches the revocation service too: 401 from then on.
        gone = await client.delete(
            f"{empty_stack.url('issuer')}/v1/institutions/{did}/api-keys/{made.json()['id']}",
            headers=ADMIN,
        )
        assert gone.status_code == 204
        refused = await eventually(lambda: revoke(kept, 401))
        assert "revoked" in refused.json()["detail"]
