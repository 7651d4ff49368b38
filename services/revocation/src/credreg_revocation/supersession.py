"""Reissue and supersede: issue the replacement through the issuer's API, wait until this
service knows it (so it is active first), then revoke the old credential naming it.

Retries are safe: the replacement's Idempotency-Key is derived from the old credential, so the
issuer answers the same replacement again, and a revocation that already names it is the
answer, not a conflict.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from credreg_revocation.domain import (
    REVOCATION,
    ChangeStatus,
    InvalidReplacement,
    StatusChanged,
    TransitionNotAllowed,
    owned_record,
    refusal,
)
from credreg_revocation.ports import CredentialIssuer
from credreg_revocation.use_cases import StatusChanges
from credreg_shared.errors import Unavailable
from credreg_shared.events.lifecycle import REVOKED
from credreg_shared.issuance import IssueCredential

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reissue:
    """Command: issue `replacement` and revoke `credential_id` as superseded by it."""

    credential_id: str
    institution: str
    replacement: IssueCredential
    authorization: str
    reason: str = "superseded"


@dataclass(frozen=True)
class Reissued:
    """The replacement as the issuer answered it, and the old credential's revocation (None
    when an earlier attempt revoked it already)."""

    replacement_id: str
    replacement_event_id: str
    credential: dict[str, Any]
    revocation: StatusChanged | None


class ReplacementNotKnownYet(Unavailable):
    """The replacement is issued, but this service has not read it from the log yet."""


def idempotency_key(credential_id: str) -> str:
    """The replacement's key: one replacement per superseded credential, however often asked."""
    return f"supersedes:{credential_id}"


class Supersessions:
    """Reissues credentials and supersedes the old ones, in that order."""

    def __init__(
        self,
        *,
        changes: StatusChanges,
        issuer: CredentialIssuer,
        wait_seconds: float = 10.0,
        poll_seconds: float = 0.05,
    ) -> None:
        self.changes = changes
        self.issuer = issuer
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds

    async def reissue(self, command: Reissue) -> Reissued:
        """Issue, wait until known here, revoke; refusals before anything is issued.

        Raises `UnknownCredential`, `NotTheIssuer`, `TransitionNotAllowed`,
        `InvalidReplacement` (another holder), the issuer's refusals, and
        `ReplacementNotKnownYet` (retry the same request: it issues nothing twice).
        """
        credentials = self.changes.credentials
        old = owned_record(
            await credentials.get(command.credential_id),
            command.credential_id,
            command.institution,
        )
        retrying = old.status == REVOKED and old.superseded_by is not None
        if old.status not in REVOCATION.sources and not retrying:
            raise refusal(REVOCATION, old.credential_id, old.status)
        if command.replacement.holder_id != old.holder_id:
            raise InvalidReplacement("the replacement must be issued to the same holder")
        issued = await self.issuer.issue(
            command.replacement,
            authorization=command.authorization,
            idempotency_key=idempotency_key(command.credential_id),
        )
        if retrying and old.superseded_by == issued.credential_id:
            return Reissued(issued.credential_id, issued.event_id, issued.credential, None)
        await self._known(issued.credential_id)
        revocation = ChangeStatus(
            command.credential_id,
            command.institution,
            REVOCATION,
            reason=command.reason,
            superseded_by=issued.credential_id,
        )
        try:
            changed = await self.changes.handle(revocation)
        except TransitionNotAllowed:
            now = await credentials.get(command.credential_id)
            if now is None or now.superseded_by != issued.credential_id:
                raise
            changed = None  # a concurrent retry revoked it, naming this replacement
        return Reissued(issued.credential_id, issued.event_id, issued.credential, changed)

    async def _known(self, credential_id: str) -> None:
        """Return once this service's view has the credential (its consumer read it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        while await self.changes.credentials.get(credential_id) is None:
            if loop.time() >= deadline:
                raise ReplacementNotKnownYet(
                    f"the replacement {credential_id} is issued but not known here yet; "
                    "retry the same request (it issues nothing twice)"
                )
            await asyncio.sleep(self.poll_seconds)
