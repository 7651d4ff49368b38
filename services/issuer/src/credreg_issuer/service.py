"""The issue-one-credential use case: validate, build, publish, answer (idempotently)."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import KafkaError

from credreg_issuer.idempotency import IdempotencyRecords
from credreg_issuer.issuance import prepare_issuance, request_digest
from credreg_issuer.requests import IssueRequest
from credreg_shared.messaging import EventPublisher
from credreg_shared.web import ProblemError, unavailable


class IssuerService:
    """Issues credentials for authenticated institutions."""

    def __init__(
        self, *, publisher: EventPublisher, records: IdempotencyRecords, topic: str, source: str
    ) -> None:
        self.publisher = publisher
        self.records = records
        self.topic = topic
        self.source = source

    async def issue(
        self, request: IssueRequest, *, institution: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        """Publish `credential.issued` and answer only after the broker acknowledged it."""
        digest = request_digest(request)
        if idempotency_key is not None:
            earlier = await self.records.find(institution, idempotency_key)
            if earlier is not None:
                if earlier["request_digest"] != digest:
                    raise ProblemError(
                        409, detail="this Idempotency-Key was used for a different request"
                    )
                answer: dict[str, Any] = earlier["response"]
                return answer
        issuance = prepare_issuance(
            request, institution=institution, source=self.source, idempotency_key=idempotency_key
        )
        try:
            await self.publisher.publish(issuance.envelope, topic=self.topic)
        except KafkaError as error:
            raise unavailable(error, "nothing was issued") from error
        event = issuance.envelope.data
        response = {
            "id": issuance.credential_id,
            "issuer_id": institution,
            "holder_id": request.holder_id,
            "event_id": issuance.envelope.id,
            "credential": event.model_dump(mode="json")["credential"],
        }
        if idempotency_key is not None:
            await self.records.remember(
                institution, idempotency_key, {"request_digest": digest, "response": response}
            )
        return response
