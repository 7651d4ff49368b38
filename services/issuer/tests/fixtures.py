"""Shared test data for the issuer's unit tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from credreg_issuer.settings import IssuerSettings
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
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


ADMIN = {"Authorization": "Bearer admin-key-for-tests"}
"""The admin key of `keeping_settings`."""


def keeping_settings(**overrides: Any) -> IssuerSettings:
    """Settings of an issuer that keeps institutions (hosted at issuer.example), for tests."""
    return IssuerSettings(
        topic_namespace="unit.",
        admin_api_key="admin-key-for-tests",
        key_encryption_key=f"k1:{KeyEncryptionKeyring.generate_kek()}",
        did_web_host="issuer.example",
        **overrides,
    )


class Clock:
    """A clock the test moves by hand (no sleeping)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, by: timedelta) -> None:
        """Move the time on by `by`."""
        self.now += by
