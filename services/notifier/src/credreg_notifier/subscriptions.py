"""Wallet subscriptions: who wants notices about which credentials, where, with which secret."""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from datetime import datetime
from typing import Any, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from credreg_shared.storage.client import Document

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks scheme prefix, not a secret
MIN_SECRET_BYTES = 24
NEW_SECRET_BYTES = 32


class SubscriptionRequest(BaseModel):
    """Subscribe a webhook URL to one holder's or one credential's notices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holder_id: str | None = Field(default=None, min_length=1, max_length=500)
    credential_id: str | None = Field(default=None, min_length=1, max_length=500)
    url: str = Field(min_length=1, max_length=2000)
    secret: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        if (self.holder_id is None) == (self.credential_id is None):
            raise ValueError("give exactly one of holder_id and credential_id")
        return self


class InvalidSecret(ValueError):
    """A webhook secret that is not ``whsec_`` + base64 of enough random bytes."""


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_SECRET_BYTES)).decode()


def check_secret(secret: str) -> None:
    """Raise `InvalidSecret` unless `secret` is ``whsec_`` + base64 of at least 24 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"secret must start with {SECRET_PREFIX!r}")
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise InvalidSecret(f"secret must be base64 after {SECRET_PREFIX!r}") from error
    if len(raw) < MIN_SECRET_BYTES:
        raise InvalidSecret(f"secret must hold at least {MIN_SECRET_BYTES} bytes")


def new_subscription(request: SubscriptionRequest, secret: str, now: datetime) -> Document:
    """The stored form of a new subscription."""
    return {
        "_id": str(uuid.uuid4()),
        "holder_id": request.holder_id,
        "credential_id": request.credential_id,
        "url": request.url,
        "secret": secret,
        "created_at": now,
    }


def public(subscription: Document) -> dict[str, Any]:
    """A subscription as the API shows it (never its secret; only the target it names)."""
    shown = {"id": subscription["_id"]}
    for key in ("holder_id", "credential_id"):
        if subscription.get(key) is not None:
            shown[key] = subscription[key]
    return {**shown, "url": subscription["url"], "created_at": subscription["created_at"]}


class SubscriptionRepository(Protocol):
    """Where subscriptions are kept."""

    async def add(self, subscription: Document) -> None:
        """Store a new subscription."""
        ...

    async def get(self, subscription_id: str) -> Document | None:
        """One subscription, or None."""
        ...

    async def remove(self, subscription_id: str) -> bool:
        """Delete a subscription; False when there was none."""
        ...

    async def matching(self, *, credential_id: str, holder_id: str) -> list[Document]:
        """Subscriptions to this credential or to its holder."""
        ...
