"""Batches: store them whole before the 202, then issue them chunk by chunk in the background.

`IssueBatches.submit` validates and stores; `run` issues a stored batch under a lease (so two
replicas never work one batch at once, and a replica that died hands it on when its lease runs
out); `BatchWorker` runs the batches it is told about at once and, every `poll` seconds, any
unfinished one (left by a crash or a restart).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from credreg_issuer.batches import (
    CHUNK_SIZE,
    RESULTS_PAGE,
    Batch,
    BatchChunk,
    BatchKeyReused,
    BatchNotFound,
    BatchView,
    ItemResult,
    NewBatch,
    StoredItem,
    WrongInstitution,
    batch_id_for,
    checked,
    page_chunks,
    split,
    validated,
)
from credreg_issuer.overlap import overlapped
from credreg_issuer.ports import BatchStore, IdempotencyRecord
from credreg_issuer.use_cases import IssueCredentials, PreparedIssuance
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.issuance import IssuanceError, IssueCredential, validate_command
from credreg_shared.workers import StoppableLoop

log = logging.getLogger(__name__)

CHUNKS_AHEAD = 2
"""Chunks read, checked and signed while the current one is stored and published: their
database round trips overlap one another, and the signing processes always have work."""


class IssueBatches:
    """Takes batches of issuances, shows their progress, and issues them."""

    def __init__(
        self,
        *,
        store: BatchStore,
        issue: IssueCredentials,
        lease: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        submitted: asyncio.Queue[str] | None = None,
    ) -> None:
        self.store = store
        self.issue = issue
        self.lease = lease
        self.clock = clock
        self.owner = uuid.uuid4().hex
        self.submitted: asyncio.Queue[str] = submitted or asyncio.Queue()
        """Batches stored by this process, for its worker to start at once."""

    async def submit(
        self, batch: NewBatch, *, institution: str, batch_key: str | None
    ) -> BatchView:
        """Store the batch (items validated one by one) and queue it; its view."""
        if batch.institution is not None and batch.institution != institution:
            raise WrongInstitution(
                f"this API key belongs to {institution}, not to {batch.institution}"
            )
        digest = batch.digest()
        batch_id = batch_id_for(institution, batch_key)
        stored = await self.store.get(batch_id) if batch_key is not None else None
        if stored is None:
            items: list[StoredItem] = []
            for start in range(0, len(batch.items), CHUNK_SIZE):
                piece = batch.items[start : start + CHUNK_SIZE]
                commands = [validated(item) for item in piece]
                # An item whose window has passed is refused now, as before, unless its key
                # issued a credential before (a re-post): that one is answered with it.
                late = await self.issue.unissuable(
                    institution,
                    {
                        item.idempotency_key: command
                        for item, command in zip(piece, commands, strict=True)
                        if isinstance(command, IssueCredential)
                    },
                    prefix="credential",
                )
                items += [
                    checked(n, item, late.get(item.idempotency_key) or command)
                    for n, (item, command) in enumerate(zip(piece, commands, strict=True), start)
                ]
                await asyncio.sleep(0)  # other requests go on between the pieces of a big batch
            document, chunks = split(
                items,
                batch_id=batch_id,
                institution=institution,
                created_at=self.clock(),
                digest=digest,
            )
            stored = await self.store.create(document, chunks)
        if stored.request_digest != digest:
            raise BatchKeyReused("this Idempotency-Key was used for a different batch")
        if stored.status != "done":
            self.submitted.put_nowait(stored.id)
        return await self.view(stored.id, institution=institution)

    async def view(
        self, batch_id: str, *, institution: str, offset: int = 0, limit: int = RESULTS_PAGE
    ) -> BatchView:
        """Progress and one page of item results (in index order)."""
        batch = await self.store.get(batch_id)
        if batch is None or batch.institution != institution:
            raise BatchNotFound(f"no batch {batch_id} of this institution")
        numbers = page_chunks(batch, offset, limit)
        issued = await self.store.results(batch_id, numbers)
        waiting = await self.store.chunks(batch_id, [n for n in numbers if n not in issued])
        results = [
            result
            for n in numbers
            for result in (issued.get(n) or [i.pending_result() for i in waiting[n].items])
            if offset <= result.index < offset + limit
        ]
        return BatchView(
            id=batch.id,
            institution=batch.institution,
            status=batch.status,
            created_at=batch.created_at,
            finished_at=batch.finished_at,
            counts=batch.counts(),
            results=results,
            next_offset=offset + limit if offset + limit < batch.total else None,
        )

    async def run(self, batch_id: str, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Issue the batch's remaining chunks, under its lease; False if another holds it, or
        if `stopping` says so between chunks (the lease is then given up for another replica).

        The next chunk is signed while the current one is stored and published: signing runs
        in the process pool, storing and publishing wait on the database and the broker.
        """
        if not await self._hold(batch_id):
            return False
        batch = await self.store.get(batch_id)
        if batch is None:
            return False
        numbers = batch.unfinished_chunks()
        async with aclosing(
            overlapped(
                numbers, functools.partial(self._prepare, batch), self._finish, ahead=CHUNKS_AHEAD
            )
        ) as chunks:
            async for number, results in chunks:
                await self.store.save_results(batch_id, number, results)
                if stopping():
                    now = self.clock()
                    await self.store.claim(batch_id, owner=self.owner, until=now, now=now)
                    return False
                if not await self._hold(batch_id):
                    return False  # the lease ran out and another replica took the batch over
        await self.store.finish(batch_id, self.clock())
        return True

    async def _hold(self, batch_id: str) -> bool:
        now = self.clock()
        return await self.store.claim(batch_id, owner=self.owner, until=now + self.lease, now=now)

    async def _prepare(self, batch: Batch, number: int) -> _Chunk:
        chunk = (await self.store.chunks(batch.id, [number]))[number]
        return await self._signed(batch, chunk)

    async def _signed(self, batch: Batch, chunk: BatchChunk) -> _Chunk:
        commands: dict[str, IssueCredential] = {}
        late: dict[str, list[IssuanceError]] = {}
        for item in chunk.items:
            if item.command is not None:
                checked = validate_command(json.loads(item.command), prefix="credential")
                if isinstance(checked, IssueCredential):
                    commands[item.key] = checked
                else:
                    late[item.key] = checked
        # A `valid_until` may have passed since the submission: `prepare_keyed` refuses such a
        # key unless it issued a credential before.
        prepared = await self.issue.prepare_keyed(batch.institution, commands, prefix="credential")
        return _Chunk(chunk, prepared, late | prepared.refused)

    async def _finish(self, signed: _Chunk) -> list[ItemResult]:
        issued = await self.issue.complete(signed.prepared)
        return [
            _result(item, issued.records, issued.reused, signed.late) for item in signed.chunk.items
        ]


@dataclass(frozen=True)
class _Chunk:
    """A chunk with its commands signed, waiting to be stored and published."""

    chunk: BatchChunk
    prepared: PreparedIssuance
    late: dict[str, list[IssuanceError]]


def _result(
    item: StoredItem,
    records: Mapping[str, IdempotencyRecord],
    reused: set[str],
    late: Mapping[str, list[IssuanceError]],
) -> ItemResult:
    """What became of one item."""
    if item.command is None:
        return item.pending_result()
    if item.key in late:
        return ItemResult(
            index=item.index, idempotency_key=item.key, status="rejected", errors=late[item.key]
        )
    if item.key in reused:
        reason = IssuanceError(
            field="idempotency_key", message="this key was used before for a different credential"
        )
        return ItemResult(
            index=item.index, idempotency_key=item.key, status="rejected", errors=[reason]
        )
    return ItemResult(
        index=item.index,
        idempotency_key=item.key,
        status="accepted",
        credential_id=records[item.key].event.key.decode(),
    )


RETRYABLE = (StorageUnavailable, PublishUnavailable)


class BatchWorker:
    """Runs submitted batches at once, and every `poll` seconds any that is unfinished."""

    def __init__(self, batches: IssueBatches, *, poll: float = 5.0, retry: float = 1.0) -> None:
        self.batches = batches
        self.poll = poll
        self.retry = retry
        self.loop = StoppableLoop()

    def stop(self) -> None:
        """Return after the current chunk."""
        self.loop.stop()

    async def run(self) -> None:
        """Until stopped: the unfinished batches at start, then the queued ones as they come,
        and the unfinished ones again every `poll` seconds."""
        batch_id: str | None = None
        while not self.loop.stopping:
            try:
                for found in [batch_id] if batch_id else await self.batches.store.unfinished():
                    if self.loop.stopping:
                        return
                    await self.batches.run(found, stopping=lambda: self.loop.stopping)
            except RETRYABLE:
                log.warning("batch issuance paused: will resume", exc_info=True)
                await self.loop.pause(self.retry)
            try:
                async with asyncio.timeout(self.poll):
                    batch_id = await _next(self.batches.submitted, self.loop)
            except TimeoutError:
                batch_id = None


async def _next(queue: asyncio.Queue[str], loop: StoppableLoop) -> str | None:
    """The next queued batch id, or None once the loop is stopped."""
    getting = asyncio.ensure_future(queue.get())
    stopping = asyncio.ensure_future(loop.stopped())
    try:
        done, _ = await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (getting, stopping):
            if not task.done():
                task.cancel()
    return getting.result() if getting in done else None
