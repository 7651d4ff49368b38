"""The revocation service's use case: issuers change their credentials' statuses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from credreg_revocation.domain import (
    REINSTATEMENT,
    ChangeStatus,
    StatusChanged,
    check_replacement,
    event_details,
    owned_record,
    refusal,
    still_valid,
)
from credreg_revocation.ports import CredentialRepository
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events.cloudevents import (
    derived_event_id,
    from_record,
    new_envelope,
    to_record,
)
from credreg_shared.messaging.ports import EventPublisher
from credreg_shared.workers import PeriodicRounds

log = logging.getLogger(__name__)


class StatusChanges:
    """Changes credential statuses for their issuers: claim in the view, publish, or undo."""

    def __init__(
        self,
        *,
        credentials: CredentialRepository,
        publisher: EventPublisher,
        topic: str,
        source: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        self.credentials = credentials
        self.publisher = publisher
        self.topic = topic
        self.source = source

    async def handle(self, command: ChangeStatus) -> StatusChanged:
        """The change, once the log acknowledged its event; else why not (nothing changed).

        Raises `UnknownCredential`, `NotTheIssuer`, `TransitionNotAllowed`, or
        `PublishUnavailable` when the log did not acknowledge in time (the claim undone). The
        claim is one conditional single-document update, so of two concurrent requests (on one
        replica or two) exactly one wins and publishes; the other finds nothing to change.
        """
        transition, credential_id = command.transition, command.credential_id
        record = owned_record(
            await self.credentials.get(credential_id), credential_id, command.institution
        )
        if command.superseded_by is not None:
            replacement = await self.credentials.get(command.superseded_by)
            check_replacement(record, replacement, command.superseded_by)
        if transition is REINSTATEMENT:
            # Suspended past its validUntil: it stays expired (the scheduler says so soon).
            still_valid(record, self.clock())
        # Built before the claim, so an invalid request never leaves a claim behind.
        data = transition.event.model_validate(
            {
                "credential_id": credential_id,
                "issuer_id": record.issuer_id,
                "holder_id": record.holder_id,
                **event_details(command),
            }
        )
        # Derived from the credential and how many changes it had: a request retried after a
        # publish that timed out (claim undone, its record perhaps on the log after all)
        # publishes under the same id, so consumers apply the change once.
        event_id = derived_event_id(
            credential_id, f"change-{record.changes + 1}:{transition.target}"
        )
        envelope = new_envelope(data, source=self.source, event_id=event_id)
        # The marker first: whatever happens after the claim, the relay can find its event.
        await self.credentials.mark_pending(credential_id, event_id=event_id, at=self.clock())
        before = await self.credentials.claim(
            credential_id,
            issuer_id=command.institution,
            event_id=event_id,
            status=transition.target,
            sources=transition.sources,
            outbox=to_record(envelope),
            superseded_by=command.superseded_by,
            changes=record.changes,
        )
        if before is None:
            # Never `published`: a concurrent request for the same change may hold this very
            # event in the outbox, still waiting for its ack.
            await self.credentials.forget_pending(credential_id, event_id=event_id)
            current = await self.credentials.get(credential_id)
            if current is not None and current.status in transition.sources:
                # Allowed, but an earlier change's event is still on its way (a request that
                # waits for its ack, or the relay after a crash), or another change came in
                # since it was read: this one goes after it.
                raise PublishUnavailable(
                    "an earlier change of this credential is still on its way to the event "
                    "log; retry in a few seconds"
                )
            raise refusal(transition, credential_id, current.status if current else None)
        try:
            # The publisher bounds its wait for the ack (PublishUnavailable after that).
            await self.publisher.publish(envelope, topic=self.topic)
        except BaseException as error:
            # Whatever stopped the publish (no ack, a bug, a cancellation), the claim must not
            # outlive it, or the view would say revoked with no event in the log. (A crash
            # here leaves the event in the outbox instead: the relay publishes it.)
            await self.credentials.release(credential_id, event_id=event_id, status=before.status)
            if isinstance(error, PublishUnavailable):
                # A record already handed to the producer may still reach the log later; the
                # view then follows the log (the undo removed the event id from it).
                cause = error.__cause__ or error
                raise PublishUnavailable(
                    f"the event log did not acknowledge ({type(cause).__name__}); "
                    "no change is confirmed"
                ) from error
            raise
        try:
            await self.credentials.published(credential_id, event_id=event_id)
        except StorageUnavailable:
            # The change is on the log; the relay publishes it once more (same event id,
            # which consumers apply once) and then clears the outbox.
            log.warning("published, but the outbox is not cleared yet", exc_info=True)
        return StatusChanged(credential_id, transition.target, event_id)

    async def flush(self, credential_id: str) -> bool:
        """Publish the credential's outbox event, if one waits; True if there was one."""
        found = await self.credentials.outbox(credential_id)
        if found is None:
            return False
        event_id, record = found
        await self.publisher.publish(
            from_record(record.key, record.value, record.headers), topic=self.topic
        )
        await self.credentials.published(credential_id, event_id=event_id)
        return True


class OutboxRelay(PeriodicRounds):
    """Publishes the events that claims left in the outbox (their request's process died before
    the broker's ack): every `poll` seconds, those older than `grace` (no request waits on them)."""

    name = "outbox relay"

    def __init__(
        self,
        changes: StatusChanges,
        *,
        grace: timedelta,
        poll: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(poll=poll)
        self.changes = changes
        self.grace = grace
        self.clock = clock

    async def run_round(self) -> object:
        """One round of the relay."""
        return await self.relay_once()

    async def relay_once(self) -> int:
        """One round: the events published."""
        relayed = 0
        credentials = self.changes.credentials
        for credential_id, event_id in await credentials.pending(before=self.clock() - self.grace):
            found = await credentials.outbox(credential_id)
            if found is not None and found[0] == event_id:
                relayed += await self.changes.flush(credential_id)
            else:
                # Published or undone since: only the marker is left.
                await credentials.published(credential_id, event_id=event_id)
        return relayed
