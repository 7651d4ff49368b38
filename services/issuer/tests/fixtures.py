"""Shared test data for the issuer's unit tests."""

from __future__ import annotations

from typing import Any

from credreg_shared.issuance import IssueCredential

UNI = "did:web:uni.example"
OTHER_UNI = "did:web:other-uni.example"


def body(holder: str = "did:example:ada", name: str = "Data Literacy", **extra: Any) -> Any:
    """A valid issue request body (JSON-shaped)."""
    return {
        "holder_id": holder,
        "achievement": {
            "name": name,
            "competencies": [
                {"name": "Read charts", "code": "DL-1"},
                {"name": "Clean data", "framework_url": "https://skills.example/clean-data"},
            ],
            "hours": 12.5,
            "delivery_mode": "online",
        },
        **extra,
    }


def command(holder: str = "did:example:ada", name: str = "Data Literacy") -> IssueCredential:
    """A valid issue command."""
    return IssueCredential.model_validate(body(holder, name))
