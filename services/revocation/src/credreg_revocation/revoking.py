"""The revoke use case: ownership checks, an atomic claim, then the event (or an undo)."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field

from credreg_shared.events import models
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.events.lifecycle import REVOKED
from credreg_shared.messaging import EventPublisher
from credreg_shared.storage.client import Document
from credreg_shared.web import ProblemError, unavailable


class RevocationRequest(BaseModel):
    """Why the credential is revoked, and what replaces it (when superseded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=500)
    superseded_by: str | None = Field(default=None, min_length=1, max_length=500)


class Ownership(Protocol):
    """What the use case needs of the ownership view."""

    async def get(self, credential_id: str) -> Document | None:
        """One credential's ownership record, or None."""
        ...

    async def claim_revocation(
        self, credential_id: str, issuer_id: str, event_id: str
    ) -> Document | None:
        """Atomically move an owned, revocable credential to revoked; the old record or None."""
        ...

    async def release_claim(self, credential_id: str, event_id: str, status: str) -> None:
        """Undo a claim whose event could not be published."""
        ...


class Revoker:
    """Revokes credentials on behalf of their issuing institution."""

    def __init__(
        self, *, ownership: Ownership, publisher: EventPublisher, topic: str, source: str
    ) -> None:
        self.ownership = ownership
        self.publisher = publisher
        self.topic = topic
        self.source = source

    async def revoke(
        self, credential_id: str, request: RevocationRequest, *, institution: str
    ) -> dict[str, Any]:
        """404 unknown, 403 not yours, 409 already revoked, else publish and answer."""
        record = await self.ownership.get(credential_id)
        if record is None:
            raise ProblemError(404, detail=f"no credential {credential_id!r} is known here")
        if record["issuer_id"] != institution:
            raise ProblemError(403, detail="only the issuing institution can revoke a credential")
        event_id = str(uuid.uuid4())
        before = await self.ownership.claim_revocation(credential_id, institution, event_id)
        if before is None:
            raise ProblemError(409, detail=f"credential {credential_id!r} is already revoked")
        data = models.CredentialRevoked(
            credential_id=credential_id,
            issuer_id=institution,
            holder_id=before["holder_id"],
            reason=request.reason,
            superseded_by=request.superseded_by,
        )
        try:
            await self.publisher.publish(
                new_envelope(data, source=self.source, event_id=event_id), topic=self.topic
            )
        except KafkaError as error:
            await self.ownership.release_claim(credential_id, event_id, before["status"])
            raise unavailable(error, "nothing was revoked") from error
        return {"id": credential_id, "status": REVOKED, "event_id": event_id}
