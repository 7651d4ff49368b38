"""The notifier's rules: subscriptions, their secrets and targets, deliveries and their retries.

A subscription names one holder or one credential, a webhook URL and a Standard Webhooks
secret. A lifecycle event becomes one delivery per matching subscription: ``pending`` until a
worker claims it (``in_flight``, under a lease), then ``delivered``, ``pending`` again with a
later ``next_attempt_at``, or ``dead`` once its attempts are spent. Its id is the
``webhook-id``: the same on every retry, so a wallet that deduplicates by it sees each notice
once. Nothing here does I/O; resolving a target's host is an adapter's job (``ports``).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from credreg_shared.addresses import is_public
from credreg_shared.errors import DomainError
from credreg_shared.events.cloudevents import Envelope, format_time
from credreg_shared.storage.ports import Document

PENDING, IN_FLIGHT, DELIVERED, DEAD = "pending", "in_flight", "delivered", "dead"
STATUSES = (PENDING, IN_FLIGHT, DELIVERED, DEAD)
DELIVERY_NAMESPACE = uuid.UUID("0f6d5b52-9c1e-4a57-8d37-2b1f3c9a7e44")
MAX_ERROR_CHARS = 500

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks scheme prefix, not a secret
MIN_SECRET_BYTES = 24
NEW_SECRET_BYTES = 32


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


class SubscriptionNotFound(DomainError):
    """No subscription has this id (it never existed or was removed)."""

    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"no subscription {subscription_id!r}")
        self.subscription_id = subscription_id


class TargetRefused(DomainError):
    """A webhook URL the notifier will not call."""


class InvalidSecret(DomainError):
    """A webhook secret that is not ``whsec_`` + base64 of enough random bytes."""


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


# Secrets


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


# Targets: absolute https URLs whose host resolves only to public addresses. They are checked
# when a wallet subscribes and again before every attempt, since a name can be pointed at an
# internal address after the subscription was accepted.


def webhook_host(url: str, *, allow_private: bool) -> str:
    """The host of an acceptable webhook `url`; raises `TargetRefused` for a bad shape.

    With `allow_private` (tests, demos), plain http is accepted as well; the host's addresses
    must still pass `refuse_private_addresses` otherwise.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("url must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url must not carry credentials")
    if not allow_private and parts.scheme != "https":
        raise TargetRefused("url must use https")
    return parts.hostname


def refuse_private_addresses(addresses: Iterable[str]) -> None:
    """Raise `TargetRefused` if any of a host's `addresses` is not public."""
    for address in addresses:
        if not is_public(address):
            raise TargetRefused(f"url resolves to a non-public address ({address})")


# Subscriptions


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


# Deliveries


def delivery_id(subscription_id: str, event_id: str) -> str:
    """The same (subscription, event) always gives the same delivery id and ``webhook-id``."""
    return f"msg_{uuid.uuid5(DELIVERY_NAMESPACE, json.dumps([subscription_id, event_id])).hex}"


def notice_body(envelope: Envelope) -> str:
    """The webhook body, as the exact JSON text that is signed and sent on every attempt."""
    notice = {
        "type": envelope.type,
        "timestamp": format_time(envelope.time),
        "data": envelope.data.model_dump(mode="json"),
    }
    return json.dumps(notice, separators=(",", ":"), ensure_ascii=False)


def new_delivery(subscription_id: str, envelope: Envelope, now: datetime) -> Document:
    """A pending delivery of `envelope` to one subscription, due at once."""
    return {
        "_id": delivery_id(subscription_id, envelope.id),
        "subscription_id": subscription_id,
        "event_id": envelope.id,
        "type": envelope.type,
        "body": notice_body(envelope),
        "status": PENDING,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": now,
        "created_at": now,
    }


@dataclass(frozen=True)
class RetrySchedule:
    """How often and how far apart a failing delivery is tried."""

    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> timedelta:
        """The wait after `attempts` failed attempts: base · 2^(attempts-1), capped."""
        exponent = min(max(attempts - 1, 0), 62)  # keeps the float finite for any count
        return timedelta(seconds=min(self.max_seconds, self.base_seconds * 2.0**exponent))


@dataclass(frozen=True)
class Settlement:
    """What an attempt leaves behind: the new status, the error and when to try next."""

    status: str
    last_error: str | None = None
    next_attempt_at: datetime | None = None


def settle(attempts: int, error: str | None, schedule: RetrySchedule, now: datetime) -> Settlement:
    """The state after attempt number `attempts` ended with `error` (None: a 2xx answer)."""
    if error is None:
        return Settlement(DELIVERED)
    error = error[:MAX_ERROR_CHARS]
    if attempts >= schedule.max_attempts:
        return Settlement(DEAD, error)
    return Settlement(PENDING, error, now + schedule.delay(attempts))


def shown(delivery: Document) -> dict[str, Any]:
    """A delivery as the API lists it."""
    fields = ("event_id", "type", "status", "attempts", "last_error", "next_attempt_at")
    return {"id": delivery["_id"], **{key: delivery.get(key) for key in fields}}
