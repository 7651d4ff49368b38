"""Stacked credentials: a ``pathway.completed`` whose pathway names an award is issued once.

The registry publishes one completion per (holder, pathway), with an id derived from both; a
redelivery, a replay or its outbox relay may bring the same event again. The award is issued
with the issuer's own idempotency records (those of ``POST /v1/credentials`` and the Kafka
ingress), under the key ``pathway-completed:<event id>``: the first delivery stores and
publishes the credential, every later one finds the record and issues nothing (even after the
award's `valid_until` has passed: the window is checked only before a new credential is issued;
a new award already past it is logged and skipped). The credential id derives from that key
too, so even two replicas racing produce one credential.

The credential is issued for the pathway's institution (whose key, with the ``issue`` scope,
defined the pathway at the registry), signed as its ``POST /v1/credentials`` would be. A
completion without an award is not the issuer's business; one whose award is not a valid
issuance command (the registry checked it when the pathway was defined) is logged and skipped:
retrying could never make it valid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from credreg_issuer.use_cases import IssueCredentials
from credreg_shared.events import models
from credreg_shared.issuance import IssueCredential, validate_command, window_errors
from credreg_shared.messaging.handlers import ConsumedEvent, HandlerRegistry

log = logging.getLogger(__name__)

KEY_PREFIX = "pathway-completed:"


def award_key(event_id: str) -> str:
    """The idempotency key of the award of one completion event."""
    return f"{KEY_PREFIX}{event_id}"


class AwardStackedCredentials:
    """Issues the stacked credential of each completed pathway that names one, once."""

    def __init__(self, *, issue: IssueCredentials) -> None:
        self.issue = issue

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """Take the pathways topic a fetched batch at a time."""
        registry.register_batch([models.PathwayDefined, models.PathwayCompleted], self.apply)
        return registry

    async def apply(self, events: Sequence[ConsumedEvent]) -> None:
        """Award every completion of the batch that names an award (redelivered: nothing new);
        check each definition's award with this issuer's own rules (a refusal is logged at
        once, rather than at its first completion)."""
        by_institution: dict[str, dict[str, IssueCredential]] = {}
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type == models.PathwayDefined.event_type:
                _check_definition(envelope.data_as(models.PathwayDefined), now=self.issue.clock())
                continue
            completed = envelope.data_as(models.PathwayCompleted)
            if completed.award is None:
                continue
            command = validate_command({**completed.award, "holder_id": completed.holder_id})
            if not isinstance(command, IssueCredential):
                log.error(
                    "pathway %s: the award is not a valid issuance command (%s); skipped",
                    completed.pathway_id,
                    "; ".join(f"{e.field}: {e.message}" for e in command),
                )
                continue
            by_institution.setdefault(completed.issuer_id, {})[award_key(envelope.id)] = command
        for institution, commands in by_institution.items():
            issued = await self.issue.issue_many(institution, commands)
            for key in commands:
                if key in issued.reused:
                    log.error("pathway award %s was stored for another command", key)
                elif key in issued.refused:
                    # A new award only: one issued before is found, however late it comes again.
                    log.error(
                        "pathway award %s not issued (%s); skipped",
                        key,
                        "; ".join(e.message for e in issued.refused[key]),
                    )
                else:
                    credential_id = issued.records[key].event.key.decode()
                    log.info("pathway award %s: credential %s", key, credential_id)


def _check_definition(defined: models.PathwayDefined, *, now: datetime) -> None:
    if defined.award is None:
        return
    command = validate_command({**defined.award, "holder_id": "did:example:award-check"})
    if isinstance(command, IssueCredential):
        command = window_errors(command, now=now) or command
    if not isinstance(command, IssueCredential):
        log.error(
            "pathway %s of %s: its award would be refused here (%s)",
            defined.pathway_id,
            defined.issuer_id,
            "; ".join(f"{e.field}: {e.message}" for e in command),
        )
