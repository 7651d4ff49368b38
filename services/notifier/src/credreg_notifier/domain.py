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
import ipaddress
import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from credreg_shared.callers import Caller
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
    issuer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Every credential this institution issued (the institution's own key)",
    )
    url: str = Field(min_length=1, max_length=2000)
    secret: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        given = [t for t in (self.holder_id, self.credential_id, self.issuer_id) if t is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of holder_id, credential_id and issuer_id")
        return self


class NotYourSubscription(DomainError):
    """A holder subscribes to its own notices, an institution to its own credentials'."""


class TooManySubscriptions(DomainError):
    """The owner has as many subscriptions as it may keep."""


class NotYourStream(DomainError):
    """A holder's live stream is its own: another holder or an institution may not open it."""


class SubscribingTooFast(DomainError):
    """The owner created as many subscriptions this minute as it may."""


def check_subscriber(request: SubscriptionRequest, caller: Caller) -> None:
    """Refuse a subscription to somebody else: a holder subscribes to its own holder id (or to
    a credential), an institution to its own issuer id (or to a holder or a credential). What
    a subscription then receives is filtered by its owner (`notice_for_owner`)."""
    if caller.holder_id is not None:
        if request.issuer_id is not None or request.holder_id not in (None, caller.holder_id):
            raise NotYourSubscription("a holder token subscribes to its own holder id only")
    elif request.issuer_id not in (None, caller.institution):
        raise NotYourSubscription("an institution subscribes to its own issuer id only")


def notice_for_owner(subscription: Document, *, holder_id: str, issuer_id: str) -> bool:
    """Whether a subscription's owner may hear of an event: its holder's own credentials, or
    the credentials its institution issued (a credential id or a holder id names no owner)."""
    owner = str(subscription.get("owner", ""))
    kind, _, whose = owner.partition(":")
    if kind == "holder":
        return whose == holder_id
    if kind == "institution":
        return whose == issuer_id
    return False


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
# internal address after the subscription was accepted; the attempt then connects to the very
# address it checked (the adapter's job), so a second answer of the name never counts.


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
    try:
        parts.port  # noqa: B018 - read for its check: a port that is no number in 0-65535 raises
    except ValueError as error:
        raise TargetRefused("url has an invalid port") from error
    if not allow_private and parts.scheme != "https":
        raise TargetRefused("url must use https")
    return parts.hostname


def refuse_private_addresses(addresses: Iterable[str]) -> None:
    """Raise `TargetRefused` if any of a host's `addresses` is not public."""
    for address in addresses:
        refusal = address_refusal(address)
        if refusal is not None:
            raise TargetRefused(f"url resolves to a non-public address ({address}: {refusal})")


# Public addresses. Python's `is_global` lets through several forms that reach private
# networks (IPv4-compatible, site-local, and 6to4 or NAT64 addresses embedding a private IPv4,
# as of Python 3.11), so the non-public ranges are written out here after the IANA
# special-purpose registries; `is_global` is only a backstop. Order matters: the first match
# names the reason.

IPV4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
        ("10.0.0.0/8", "private (10.0.0.0/8)"),
        ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private (172.16.0.0/12)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.2.0/24", "documentation (192.0.2.0/24)"),
        ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"),
        ("192.168.0.0/16", "private (192.168.0.0/16)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
        ("198.51.100.0/24", "documentation (198.51.100.0/24)"),
        ("203.0.113.0/24", "documentation (203.0.113.0/24)"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
    )
)

# Refused whatever they carry. Teredo and local-use NAT64 do embed IPv4 addresses, but where
# their packets go depends on relays and translators we cannot judge (Teredo's client address
# is even obfuscated), and no wallet needs them.
IPV6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(network), reason)
    for network, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (::/96, deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)"),
        ("100::/64", "discard-only (100::/64)"),
        ("2001::/32", "Teredo (2001::/32)"),
        ("2001:2::/48", "benchmarking (2001:2::/48)"),
        ("2001::/23", "IETF protocol assignments (2001::/23)"),
        ("2001:db8::/32", "documentation (2001:db8::/32)"),
        ("3fff::/20", "documentation (3fff::/20)"),
        ("fc00::/7", "unique-local (fc00::/7)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (fec0::/10, deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def is_public(address: str) -> bool:
    """True for an address a webhook may reach (globally routable unicast)."""
    return address_refusal(address) is None


def address_refusal(address: str) -> str | None:
    """Why a webhook may not reach `address` (its kind of range); None for a public one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv4Address):
        return ipv4_refusal(ip)
    return ipv6_refusal(ip)


def ipv4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    """Why `ip` is not public, or None."""
    for network, reason in IPV4_REFUSED:
        if ip in network:
            return reason
    return None if ip.is_global else "not globally reachable"


def ipv6_refusal(ip: ipaddress.IPv6Address) -> str | None:
    """Why `ip` is not public, or None; forms that carry an IPv4 address are judged by it."""
    if ip.scope_id is not None:
        return "scoped to a local interface"
    for network, reason in IPV6_REFUSED:
        if ip in network:
            return reason
    embedded = embedded_ipv4(ip)
    if embedded is not None:
        form, ipv4 = embedded
        carried = ipv4_refusal(ipv4)
        return None if carried is None else f"{form} form of {ipv4}, which is {carried}"
    if ip not in IPV6_GLOBAL_UNICAST:
        return "reserved (outside global unicast 2000::/3)"
    return None if ip.is_global else "not globally reachable"


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address reaches, with the form's name."""
    if ip in IPV4_MAPPED:
        # A dual-stack socket connected to ::ffff:a.b.c.d speaks IPv4 to a.b.c.d.
        return "IPv4-mapped", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in NAT64_WELL_KNOWN:
        # RFC 6052: the translator forwards to the IPv4 address in the last 32 bits.
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in SIX_TO_FOUR:
        # RFC 3056: 2002:AABB:CCDD::/48 is tunnelled to the IPv4 address AA.BB.CC.DD.
        return "6to4", ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


# Subscriptions


def new_subscription(
    request: SubscriptionRequest, secret: str, now: datetime, *, owner: str
) -> Document:
    """The stored form of a new subscription."""
    return {
        "_id": str(uuid.uuid4()),
        "owner": owner,
        "holder_id": request.holder_id,
        "credential_id": request.credential_id,
        "issuer_id": request.issuer_id,
        "url": request.url,
        "secret": secret,
        "created_at": now,
    }


def subscription_targets(subscription: Document) -> list[str]:
    """The keys an event is matched by that name this subscription (``holder:<id>``,
    ``credential:<id>``, ``issuer:<id>``): one, as a subscription names one target."""
    return [
        f"{kind}:{subscription[f'{kind}_id']}"
        for kind in ("holder", "credential", "issuer")
        if subscription.get(f"{kind}_id") is not None
    ]


def public(subscription: Document) -> dict[str, Any]:
    """A subscription as the API shows it (never its secret; only the target it names)."""
    shown = {"id": subscription["_id"]}
    for key in ("holder_id", "credential_id", "issuer_id"):
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


def new_delivery(
    subscription_id: str, envelope: Envelope, now: datetime, lease: Lease | None = None
) -> Document:
    """A pending delivery of `envelope` to one subscription, due at once; with `lease`, born
    claimed by it (in flight, first attempt), so that the lane it is handed to sends it without
    a claim of its own."""
    delivery: Document = {
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
    if lease is not None:
        delivery.update(
            status=IN_FLIGHT, attempts=1, lease_until=lease.until, lease_token=lease.token
        )
    return delivery


@dataclass(frozen=True)
class Lease:
    """A claim on a delivery: who holds it (a token) and until when."""

    token: str
    until: datetime

    @classmethod
    def new(cls, now: datetime, length: timedelta) -> Self:
        """A fresh token, held for `length` from `now`."""
        return cls(token=uuid.uuid4().hex, until=now + length)


@dataclass(frozen=True)
class Handed:
    """A delivery handed from the consumer to the lanes: its id, and the delivery itself when
    it was born claimed by this process (else the lane claims it by id)."""

    delivery_id: str
    claimed: Document | None = None


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


@dataclass(frozen=True)
class HolderEvent:
    """One lifecycle event in a holder's live stream: its sequence number (the SSE id), the
    CloudEvents id and type, and the notice body (the same JSON a webhook carries)."""

    seq: int
    event_id: str
    type: str
    body: str


def holder_event(envelope: Envelope) -> tuple[str, str, str]:
    """What a holder's stream keeps of a lifecycle event: its id, type and notice body."""
    return envelope.id, envelope.type, notice_body(envelope)
