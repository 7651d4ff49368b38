"""The credential lifecycle every view applies the same way: statuses and allowed transitions."""

from __future__ import annotations

from typing import Final

from credreg_shared.events import models

ACTIVE: Final = "active"
SUSPENDED: Final = "suspended"
EXPIRED: Final = "expired"
REVOKED: Final = "revoked"
STATUSES: Final = (ACTIVE, SUSPENDED, EXPIRED, REVOKED)

# A later event may only move a credential to a status of at least the same rank, except that
# reinstatement lifts a suspension: a revoked credential stays revoked whatever comes after.
_RANK: Final = {ACTIVE: 0, SUSPENDED: 1, EXPIRED: 2, REVOKED: 3}
_TARGET: Final[dict[type[models.EventData], str]] = {
    models.CredentialRevoked: REVOKED,
    models.CredentialSuspended: SUSPENDED,
    models.CredentialExpired: EXPIRED,
}


def next_status(current: str | None, event: models.EventData) -> str | None:
    """The status after `event`, or None when the event does not change it."""
    current = current or ACTIVE
    if isinstance(event, models.CredentialReinstated):
        return ACTIVE if current == SUSPENDED else None
    target = _TARGET.get(type(event))
    if target is None or _RANK[target] < _RANK[current]:
        return None
    return target
