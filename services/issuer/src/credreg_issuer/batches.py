"""Credential batches: a registrar posts up to 10,000 issuances at once (rules only, no I/O).

A batch is stored before it is answered (202): its items, a chunk of `CHUNK_SIZE` per document
(a batch of 10,000 would pass MongoDB's 16 MB document limit), and one batch document. Each
item is validated on its own at submission, so a bad item is rejected without failing the
others. A worker then issues the valid items chunk by chunk, each through the same idempotency
records as single requests (the item's key), and records each chunk's results in one insert
plus its tally in the batch document: both idempotent, so a crash anywhere resumes at the first
chunk without a tally, and re-posting a batch issues nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from credreg_shared.errors import DomainError
from credreg_shared.issuance import IssuanceError, IssueCredential, validate_command

MAX_ITEMS = 10_000
"""Items a batch may hold."""
MAX_BATCH_BYTES = 32 * 1024 * 1024
"""Request body limit of `POST /v1/credential-batches` (32 MiB: 10,000 items of ~3 KB)."""
CHUNK_SIZE = 200
"""Items per stored chunk, and per round of signing and publishing."""
RESULTS_PAGE = 1000
"""Item results a batch view shows at most per page."""

ItemKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]
BATCH_NAMESPACE = uuid.UUID("0d7f3c55-8a0b-4c43-9f49-0f5a1b7e9c21")


class BatchNotFound(DomainError):
    """No batch with this id belongs to the calling institution."""


class BatchKeyReused(DomainError):
    """The batch's Idempotency-Key was first used for a different batch."""


class WrongInstitution(DomainError):
    """The batch names another institution than the one the API key belongs to."""


class BatchItemIn(BaseModel):
    """One issuance of a batch: its own idempotency key and the credential it asks for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key: ItemKey
    credential: dict[str, Any]
    """The issuance command (`IssueCredential`), validated item by item."""


class NewBatch(BaseModel):
    """A batch of issuances for one institution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    institution: str | None = Field(
        default=None, description="The institution's DID; refused if the API key is another's."
    )
    items: list[BatchItemIn] = Field(description=f"1 to {MAX_ITEMS:,} issuances")

    @model_validator(mode="after")
    def _items_are_a_batch(self) -> Self:
        if not self.items:
            raise ValueError("a batch needs at least one item")
        if len(self.items) > MAX_ITEMS:
            raise ValueError(
                f"a batch holds at most {MAX_ITEMS:,} items, this one {len(self.items):,}: split it"
            )
        repeated = [k for k, n in Counter(i.idempotency_key for i in self.items).items() if n > 1]
        if repeated:
            shown = ", ".join(repr(k) for k in repeated[:5])
            raise ValueError(
                f"{len(repeated)} idempotency keys appear more than once in the batch: {shown}"
            )
        return self

    def digest(self) -> str:
        """A digest of the batch, to refuse a batch Idempotency-Key reused for another one."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


ItemStatus = Literal["pending", "accepted", "rejected"]


class ItemResult(BaseModel):
    """What became of one item: its credential, or why it was rejected."""

    model_config = ConfigDict(frozen=True)

    index: int
    idempotency_key: str
    status: ItemStatus
    credential_id: str | None = None
    errors: list[IssuanceError] = []


class StoredItem(BaseModel):
    """An item as stored: the validated command as JSON, or the reasons it was refused."""

    model_config = ConfigDict(frozen=True)

    index: int
    key: str
    command: str | None = None
    errors: list[IssuanceError] = []

    def pending_result(self) -> ItemResult:
        """The item's result before its chunk is issued."""
        if self.errors:
            return ItemResult(
                index=self.index, idempotency_key=self.key, status="rejected", errors=self.errors
            )
        return ItemResult(index=self.index, idempotency_key=self.key, status="pending")


class BatchChunk(BaseModel):
    """Up to `CHUNK_SIZE` consecutive items of a batch."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    number: int
    items: list[StoredItem]


class Tally(BaseModel):
    """Accepted and rejected items of one issued chunk."""

    model_config = ConfigDict(frozen=True)

    accepted: int
    rejected: int


BatchStatus = Literal["pending", "running", "done"]


class Batch(BaseModel):
    """A stored batch: who, how many items, and the tallies of the chunks issued so far."""

    model_config = ConfigDict(frozen=True)

    id: str
    institution: str
    request_digest: str
    created_at: datetime
    total: int
    chunk_sizes: list[int]
    refused: list[int]
    """Per chunk, the items refused at submission (invalid)."""
    tallies: dict[str, Tally] = {}
    """Chunk number (as text) → its tally, once the chunk is issued."""
    finished_at: datetime | None = None

    @property
    def status(self) -> BatchStatus:
        """Pending until a chunk is issued, done when every chunk is."""
        if self.finished_at is not None or len(self.tallies) == len(self.chunk_sizes):
            return "done"
        return "running" if self.tallies else "pending"

    def counts(self) -> BatchCounts:
        """Items accepted, rejected and pending so far."""
        accepted = rejected = pending = 0
        for number, size in enumerate(self.chunk_sizes):
            tally = self.tallies.get(str(number))
            if tally is None:
                rejected += self.refused[number]
                pending += size - self.refused[number]
            else:
                accepted += tally.accepted
                rejected += tally.rejected
        return BatchCounts(total=self.total, accepted=accepted, rejected=rejected, pending=pending)

    def unfinished_chunks(self) -> list[int]:
        """The chunks still to issue, in order."""
        return [n for n in range(len(self.chunk_sizes)) if str(n) not in self.tallies]


class BatchCounts(BaseModel):
    """Progress of a batch."""

    total: int
    accepted: int
    rejected: int
    pending: int


class BatchView(BaseModel):
    """What `GET /v1/credential-batches/{id}` shows: progress, and a page of item results."""

    id: str
    institution: str
    status: BatchStatus
    created_at: datetime
    finished_at: datetime | None
    counts: BatchCounts
    results: list[ItemResult]
    next_offset: int | None = Field(description="Offset of the next page of results, if any")


def batch_id_for(institution: str, batch_key: str | None) -> str:
    """A fresh id, or one derived from the batch's Idempotency-Key (a re-post finds it)."""
    if batch_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(BATCH_NAMESPACE, json.dumps([institution, batch_key])))


def validated(item: BatchItemIn) -> IssueCredential | list[IssuanceError]:
    """The item's command, or why it is not one (time-free: see `IssueBatches.submit`)."""
    return validate_command(item.credential, prefix="credential")


def checked(
    index: int, item: BatchItemIn, command: IssueCredential | list[IssuanceError]
) -> StoredItem:
    """An item as stored: its validated command, or the reasons it is refused."""
    if isinstance(command, IssueCredential):
        return StoredItem(index=index, key=item.idempotency_key, command=command.model_dump_json())
    return StoredItem(index=index, key=item.idempotency_key, errors=command)


def split(
    stored: list[StoredItem], *, batch_id: str, institution: str, created_at: datetime, digest: str
) -> tuple[Batch, list[BatchChunk]]:
    """The batch document and its chunks of checked items."""
    chunks = [
        BatchChunk(batch_id=batch_id, number=n, items=stored[start : start + CHUNK_SIZE])
        for n, start in enumerate(range(0, len(stored), CHUNK_SIZE))
    ]
    document = Batch(
        id=batch_id,
        institution=institution,
        request_digest=digest,
        created_at=created_at,
        total=len(stored),
        chunk_sizes=[len(c.items) for c in chunks],
        refused=[sum(1 for i in c.items if i.errors) for c in chunks],
    )
    return document, chunks


def tally(results: list[ItemResult]) -> Tally:
    """The tally of a chunk's results."""
    return Tally(
        accepted=sum(1 for r in results if r.status == "accepted"),
        rejected=sum(1 for r in results if r.status == "rejected"),
    )


def page_chunks(batch: Batch, offset: int, limit: int) -> list[int]:
    """The chunks that hold items `offset` … `offset + limit - 1`."""
    end = min(batch.total, offset + limit)
    if offset >= end:
        return []
    return list(range(offset // CHUNK_SIZE, (end - 1) // CHUNK_SIZE + 1))
