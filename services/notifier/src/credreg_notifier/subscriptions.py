"""Wallet subscriptions: who wants notices about which credentials, where, with which secret."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
import uuid
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymongo.asynchronous.database import AsyncDatabase
from standardwebhooks.webhooks import Webhook

from credreg_shared.storage import index
from credreg_shared.storage.client import Document
from credreg_shared.web import ProblemError

COLLECTION = "subscriptions"
INDEXES = [index(COLLECTION, ("holder_id", 1)), index(COLLECTION, ("credential_id", 1))]
SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme prefix, not a secret
MIN_SECRET_BYTES = 24


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


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> None:
    """Refuse a secret that is not ``whsec_`` + base64 of at least 24 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ProblemError(422, detail="secret must start with 'whsec_'")
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError as error:
        raise ProblemError(422, detail="secret must be base64 after 'whsec_'") from error
    if len(raw) < MIN_SECRET_BYTES:
        raise ProblemError(422, detail=f"secret must hold at least {MIN_SECRET_BYTES} bytes")
    Webhook(secret)


def check_target(url: str, *, allow_private: bool) -> None:
    """HTTPS to a public address only, unless private targets are explicitly allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ProblemError(422, detail="url must be an absolute https URL")
    if allow_private:
        return
    if parts.scheme != "https":
        raise ProblemError(422, detail="url must use https")
    for address in resolve(parts.hostname):
        ip = ipaddress.ip_address(address)
        if not ip.is_global:
            raise ProblemError(422, detail=f"url resolves to a non-public address ({ip})")


def resolve(host: str) -> list[str]:
    """Every address a host name resolves to (an unresolvable name is refused)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except socket.gaierror as error:
        raise ProblemError(422, detail=f"url host {host!r} does not resolve") from error


def public(document: Document) -> dict[str, Any]:
    """A subscription as the API shows it after creation (never its secret)."""
    return {
        "id": document["_id"],
        **{k: document.get(k) for k in ("holder_id", "credential_id", "url", "created_at")},
    }


class SubscriptionStore:
    """Subscriptions in the notifier's own database."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[COLLECTION]

    async def create(self, request: SubscriptionRequest, secret: str) -> Document:
        """Store a new subscription."""
        document: Document = {
            "_id": str(uuid.uuid4()),
            "holder_id": request.holder_id,
            "credential_id": request.credential_id,
            "url": request.url,
            "secret": secret,
            "created_at": datetime.now(UTC),
        }
        await self.collection.insert_one(document)
        return document

    async def get(self, subscription_id: str) -> Document | None:
        """One subscription, or None."""
        return await self.collection.find_one({"_id": subscription_id})

    async def delete(self, subscription_id: str) -> bool:
        """Remove a subscription; False when there was none."""
        return (await self.collection.delete_one({"_id": subscription_id})).deleted_count == 1

    async def matching(self, credential_id: str, holder_id: str) -> list[Document]:
        """Subscriptions to this credential or to its holder."""
        by_credential = self.collection.find({"credential_id": credential_id})
        by_holder = self.collection.find({"holder_id": holder_id})
        return [d async for d in by_credential] + [d async for d in by_holder]
