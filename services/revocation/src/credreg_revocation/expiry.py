"""Expiry, as the revocation service schedules it: time buckets, what falls due, and which
credential gets which notice.

The schedule is kept in ten-second *buckets* named by their start (``2026-11-29T19:05:10``):
every read of it is by ``_id``, so it stays fast on any MongoDB-wire server. A credential's
notices are put in the bucket of their due time; one that is already past goes in the first
bucket the scheduler has not closed yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from credreg_revocation.domain import CredentialRecord
from credreg_shared.events import models
from credreg_shared.events.lifecycle import ACTIVE, EXPIRED, SUSPENDED

BUCKET = timedelta(seconds=10)
_BUCKET_FORMAT = "%Y-%m-%dT%H:%M:%S"
DEFAULT_LEAD_DAYS = (30,)
MAX_LEAD_DAYS = 730
EXPIRED_KIND = "expired"
EXPIRED_SOURCES = frozenset({ACTIVE, SUSPENDED})


def bucket_of(moment: datetime) -> str:
    """The bucket a moment falls in."""
    moment = moment.astimezone(UTC)
    start = moment - timedelta(
        seconds=moment.second % BUCKET.seconds, microseconds=moment.microsecond
    )
    return start.strftime(_BUCKET_FORMAT)


def bucket_start(bucket: str) -> datetime:
    """When a bucket begins."""
    return datetime.strptime(bucket, _BUCKET_FORMAT).replace(tzinfo=UTC)


def next_bucket(bucket: str) -> str:
    """The bucket after this one."""
    return bucket_of(bucket_start(bucket) + BUCKET)


def day_of(bucket: str) -> str:
    """The day a bucket lies in (``2026-11-29``): the schedule's index of buckets is by day."""
    return bucket[:10]


def days_between(after: str, through: str) -> list[str]:
    """The days of the buckets after `after` up to `through`."""
    first = bucket_start(next_bucket(after)).date()
    last = bucket_start(through).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def expiring_kind(lead_days: int) -> str:
    """The notice kind of one lead time (also the purpose of its deterministic event id)."""
    return f"expiring:{lead_days}"


def lead_of(kind: str) -> int | None:
    """The lead time of an `expiring` kind; None for `expired`."""
    name, _, days = kind.partition(":")
    return int(days) if name == "expiring" else None


@dataclass(frozen=True)
class Due:
    """One notice a credential will get, and when."""

    credential_id: str
    kind: str
    at: datetime


def dues(
    credential_id: str, valid_until: datetime, lead_days: Iterable[int], now: datetime
) -> list[Due]:
    """The notices of a credential valid until `valid_until`, given its issuer's lead times.

    Of the lead times already reached at `now`, only the shortest is kept: a credential issued
    ten days before its expiry gets one "expiring" notice, not one per lead time.
    """
    found = [Due(credential_id, EXPIRED_KIND, valid_until)]
    reached: list[int] = []
    for days in sorted(set(lead_days)):
        at = valid_until - timedelta(days=days)
        if at <= now:
            reached.append(days)
        else:
            found.append(Due(credential_id, expiring_kind(days), at))
    if reached and valid_until > now:
        found.append(Due(credential_id, expiring_kind(reached[0]), now))
    return found


def by_bucket(due: Sequence[Due], first_open: str) -> dict[str, list[str]]:
    """Entries (``kind|credential id``) by bucket; one due in a closed bucket: `first_open`."""
    buckets: dict[str, list[str]] = {}
    for item in due:
        bucket = max(bucket_of(item.at), first_open)
        buckets.setdefault(bucket, []).append(entry(item.kind, item.credential_id))
    return buckets


def entry(kind: str, credential_id: str) -> str:
    """One schedule entry: flat text (FerretDB 1.x keeps no nested arrays)."""
    return f"{kind}|{credential_id}"


def parse_entry(text: str) -> tuple[str, str]:
    """(kind, credential id) of a schedule entry."""
    kind, _, credential_id = text.partition("|")
    return kind, credential_id


def eligible(
    record: CredentialRecord, kind: str, *, lead_days: Iterable[int], now: datetime
) -> bool:
    """Whether `record` should get the `kind` notice now (never twice: see `announced`).

    Expiry reaches active and suspended credentials (a suspension does not stop the clock);
    "expiring" reaches only active ones still before their expiry, for a lead time the issuer
    still keeps. Revoked (and so superseded) credentials get neither.
    """
    if record.valid_until is None or kind in record.announced:
        return False
    if kind == EXPIRED_KIND:
        return record.status in EXPIRED_SOURCES and record.valid_until <= now
    lead = lead_of(kind)
    return record.status == ACTIVE and now < record.valid_until and lead in set(lead_days)


def notice(
    record: CredentialRecord, kind: str, renewal: models.Renewal | None
) -> models.CredentialExpired | models.CredentialExpiring:
    """The event a notice of `kind` publishes (`record` has a `valid_until`)."""
    common = {
        "credential_id": record.credential_id,
        "issuer_id": record.issuer_id,
        "holder_id": record.holder_id,
        "valid_until": record.valid_until,
        "renewal": renewal,
    }
    if kind == EXPIRED_KIND:
        return models.CredentialExpired.model_validate(common)
    return models.CredentialExpiring.model_validate({**common, "lead_days": lead_of(kind)})


def target_status(kind: str) -> str | None:
    """The status a notice moves its credential to (expiry), or None (a notice only)."""
    return EXPIRED if kind == EXPIRED_KIND else None


@dataclass(frozen=True)
class Announcement:
    """A claim on one notice of one credential: its kind, event id and status change."""

    credential_id: str
    kind: str
    event_id: str
    status: str | None
    sources: frozenset[str]


@dataclass(frozen=True)
class ClockState:
    """The scheduler's progress: buckets closed to new entries, buckets announced, the lease."""

    closed: str
    done: str
    holder: str | None
    lease_until: datetime | None
