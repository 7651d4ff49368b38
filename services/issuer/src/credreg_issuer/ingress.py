"""Issuance requests over Kafka: each institution posts to its own topic, the issuer answers
each request on the results topic, keyed by the request id.

The request id is the idempotency key, shared with HTTP and batches: a redelivered request
finds its stored record and is answered the same (accepted, same credential; or rejected), and
nothing is issued twice, even when its `valid_until` has passed since (the window is checked
only for a request id with no stored record). A request on another institution's topic, or
whose command is not valid, gets a rejected result; a record that is not even a request goes
to the dead-letter topic and, when its key names a request, gets a rejected result too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence

from credreg_issuer.institutions import Institution
from credreg_issuer.ports import IdempotencyRecord
from credreg_issuer.use_cases import ISSUE_PIECE, IssueCredentials, Issued, ManageInstitutions
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope, derived_event_id, new_envelope
from credreg_shared.issuance import IssuanceError, IssueCredential, validate_command
from credreg_shared.messaging.handlers import ConsumedEvent, HandlerRegistry
from credreg_shared.messaging.ports import EventPublisher
from credreg_shared.messaging.processing import InboundRecord

log = logging.getLogger(__name__)

RESULT_PURPOSE = "issuance-result"

INGRESS_BATCH = 5 * ISSUE_PIECE
"""Requests taken per fetched batch: enough pieces that signing the next ones overlaps storing
and publishing the current one (`IssueCredentials.issue_many`)."""


class AnswerIssuanceRequests:
    """Issues the requests read from the institutions' request topics and answers each one."""

    def __init__(
        self,
        *,
        issue: IssueCredentials,
        institutions: ManageInstitutions,
        publisher: EventPublisher,
        requests_prefix: str,
        results_topic: str,
        source: str,
    ) -> None:
        self.issue = issue
        self.institutions = institutions
        self.publisher = publisher
        # The deployed prefix of the request topics (`<namespace>credreg.issuance-requests`).
        self.requests_prefix = requests_prefix
        self.results_topic = results_topic
        self.source = source

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """Take the requests a fetched batch at a time (one bulk issuance per institution)."""
        registry.register_batch([models.IssuanceRequested], self.apply)
        return registry

    async def apply(self, events: Sequence[ConsumedEvent]) -> None:
        """Issue and answer a batch of requests (redelivery answers the same again)."""
        by_topic: dict[str, list[ConsumedEvent]] = defaultdict(list)
        for event in events:
            by_topic[event.topic].append(event)
        answers: list[Envelope] = []
        for topic, requests in by_topic.items():
            owner = await self._owner(topic)
            answers += await self._answer(owner, topic, [e.envelope for e in requests])
        # Answered only once the credentials are on the log (acknowledged).
        await self.publisher.publish_many(answers, topic=self.results_topic)

    async def on_dead_letter(self, record: InboundRecord, error: str) -> None:
        """Answer a request that could not even be read, when its key names it."""
        if not record.key:
            return
        request_id = record.key.decode(errors="replace")[:200]
        owner = await self._owner(record.topic)
        rejected = models.IssuanceResult(
            request_id=request_id,
            institution_id=owner.id if owner else "",
            status="rejected",
            errors=(IssuanceError(field="", message=f"not a readable issuance request: {error}"),),
        )
        event_id = derived_event_id(
            f"{record.topic}|{record.partition}|{record.offset}", RESULT_PURPOSE
        )
        await self.publisher.publish(
            new_envelope(rejected, source=self.source, event_id=event_id), topic=self.results_topic
        )

    async def _owner(self, topic: str) -> Institution | None:
        slug = topic.removeprefix(f"{self.requests_prefix}.")
        return await self.institutions.by_slug(slug)

    async def _answer(
        self, owner: Institution | None, topic: str, requests: Sequence[Envelope]
    ) -> list[Envelope]:
        verdicts: dict[int, list[IssuanceError]] = {}
        commands: dict[str, IssueCredential] = {}
        wanted: dict[int, IssueCredential] = {}
        parsed = [envelope.data_as(models.IssuanceRequested) for envelope in requests]
        for n, request in enumerate(parsed):
            if owner is None:
                verdicts[n] = [IssuanceError(field="", message=f"no institution owns {topic}")]
            elif request.institution_id != owner.id:
                verdicts[n] = [
                    IssuanceError(
                        field="institution_id",
                        message=f"{topic} belongs to {owner.id}, not to {request.institution_id}",
                    )
                ]
            else:
                checked = validate_command(request.credential, prefix="credential")
                if isinstance(checked, IssueCredential):
                    # A request id seen twice in one batch: the first body is the one stored.
                    commands.setdefault(request.request_id, checked)
                    wanted[n] = checked
                else:
                    verdicts[n] = checked
        issued = (
            await self.issue.issue_many(owner.id, commands, prefix="credential")
            if owner and commands
            else Issued({}, set(), {})
        )
        answers = []
        for n, (envelope, request) in enumerate(zip(requests, parsed, strict=True)):
            errors = verdicts.get(n) or issued.refused.get(request.request_id)
            result = _result(request, owner, errors, wanted.get(n), issued.records)
            # The same record redelivered is answered with the same event id (deduplicated).
            event_id = derived_event_id(f"{envelope.source}|{envelope.id}", RESULT_PURPOSE)
            answers.append(new_envelope(result, source=self.source, event_id=event_id))
        return answers


def _result(
    request: models.IssuanceRequested,
    owner: Institution | None,
    errors: list[IssuanceError] | None,
    command: IssueCredential | None,
    records: Mapping[str, IdempotencyRecord],
) -> models.IssuanceResult:
    institution = owner.id if owner else request.institution_id
    if errors is not None or command is None:
        return models.IssuanceResult(
            request_id=request.request_id,
            institution_id=institution,
            status="rejected",
            errors=tuple(errors or ()),
        )
    record = records[request.request_id]
    if not command.is_digested_as(record.request_digest):
        return models.IssuanceResult(
            request_id=request.request_id,
            institution_id=institution,
            status="rejected",
            errors=(
                IssuanceError(
                    field="request_id",
                    message="this request id was used before for a different credential",
                ),
            ),
        )
    return models.IssuanceResult(
        request_id=request.request_id,
        institution_id=institution,
        status="accepted",
        credential_id=record.event.key.decode(),
        issued_event_id=record.event_id,
    )
