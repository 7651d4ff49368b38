"""`CredentialIssuer` over the issuer service's HTTP API (`POST /v1/credentials`)."""

from __future__ import annotations

import httpx

from credreg_revocation.domain import (
    ReplacementConflict,
    ReplacementForbidden,
    ReplacementRefused,
)
from credreg_revocation.ports import IssuedReplacement
from credreg_shared.errors import Unavailable
from credreg_shared.issuance import IssueCredential


class HttpCredentialIssuer:
    """Calls the issuer as the registrar who asked (its own API key, forwarded)."""

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def issue(
        self, command: IssueCredential, *, authorization: str, idempotency_key: str
    ) -> IssuedReplacement:
        """Issue as the caller; its refusals as domain errors, its outages as `Unavailable`."""
        headers = {"Authorization": authorization, "Idempotency-Key": idempotency_key}
        body = command.model_dump(mode="json", exclude_defaults=True)
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                answer = await client.post(
                    f"{self.base_url}/v1/credentials", json=body, headers=headers
                )
        except httpx.HTTPError as error:
            raise Unavailable(f"the issuer did not answer ({type(error).__name__})") from error
        if answer.status_code >= 500:
            raise Unavailable(f"the issuer answered {answer.status_code}; nothing confirmed")
        if answer.status_code == 409:
            raise ReplacementConflict(
                "this credential was superseded before by a different replacement request "
                f"({_detail(answer)})"
            )
        if answer.status_code in (401, 403):
            raise ReplacementForbidden(
                f"the issuer refused the caller's key ({_detail(answer)}): reissuing needs "
                "a key with the issue and revoke scopes"
            )
        if answer.status_code >= 400:
            raise ReplacementRefused(f"the issuer refused the replacement: {_detail(answer)}")
        issued = answer.json()
        return IssuedReplacement(
            credential_id=str(issued["id"]),
            event_id=str(issued["event_id"]),
            credential=dict(issued["credential"]),
        )


def _detail(answer: httpx.Response) -> str:
    try:
        problem = answer.json()
    except ValueError:
        return f"{answer.status_code} {answer.reason_phrase}"
    if not isinstance(problem, dict):
        return f"{answer.status_code} {answer.reason_phrase}"
    return str(problem.get("detail") or problem.get("title") or answer.reason_phrase)
