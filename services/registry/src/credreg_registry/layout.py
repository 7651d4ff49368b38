"""How the registry's view is laid out in documents, so that every hot read is a lookup by ``_id``.

Collections (all keyed by ``_id``; no read needs a secondary index):

* ``credentials``: one small document per credential (``_id`` = credential id): its state
  (with ``expiring``, the latest expiring notice, and ``supersedes``, the credentials it
  replaced). ``applied_events`` makes each event apply once;
  ``placed`` records which chunk of which list holds the credential (``"<chunk>|<list>"``).
  The Mongo adapter stores its ``achievement`` as JSON text (``STORED_AS_TEXT``): FerretDB
  writes and reads a nested document much slower than a string, and nothing queries inside it.
* ``credential_bodies``: the Verifiable Credential as issued, as JSON text (``_id`` = credential
  id), written once and never changed. Apart from the state so that a page's lines and a status
  change read and rewrite small documents (FerretDB rewrites a whole document on every update),
  and as one string because FerretDB stores that several times faster than the nested document.
* ``credential_lines``: what a page shows of each issued credential (status, issuer,
  achievement, validity), ~150 bytes, rewritten whole by every batch that touches the credential.
  A page reads these rather than the states: a million of them stay in the page cache.
* ``lists`` and ``list_heads``: a holder's portfolio (list ``holder:<id>``) is a list of
  credential ids, stored in *chunks* (``_id`` = ``"<n>:<list>"``, numbered from 0 without
  gaps). Each batch that places credentials in a list **inserts** one new chunk with their ids:
  FerretDB inserts a batch several times faster than it updates documents, and a chunk never
  changes afterwards (statuses are read live from the credential documents). A page reads a
  run of chunks in one ``$in``. ``list_heads`` (``_id`` = list) remembers how many chunks a
  list has, written only every `HEAD_EVERY` chunks: the projection keeps the count in memory for
  the lists it wrote last, and counts any other list from the store (`chunk_counts`: from its
  head on, the first chunk id not written), so a batch never re-opens a chunk; if two writers
  open the same one, the second adds its ids to it with ``$addToSet``.
  The credentials of an achievement (list ``achievement:["<issuer>", "<achievement id>"]``)
  are listed the same way, for stackable pathways (``pathways``).
* ``view_generation`` (in the base database only): which *generation* of the view serves.
  Generation 0 is the base database and consumer group; generation *n* is database
  ``<base>_g<n>``, written by consumer group ``<group>-g<n>-<attempt>`` (the pointer names it: an
  interrupted rebuild's group is never reused, so a new attempt replays from the first offset).
  ``credreg registry rebuild`` replays the log into the next generation, then moves this
  pointer; every registry follows it.
* ``counters``: one document per consumed partition (``_id`` = ``"<topic>:<partition>"``) with
  the counts by status and the offset counted up to, so that stats sum a handful of documents.

List chunks derive from the credential documents (``placed``): a redelivered batch adds its ids to
their chunks again (``$addToSet``), which mends a crash between the two writes. Counters are not
derivable; they move by compare-and-set on the partition's offset.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credreg_registry.domain import ISSUED_FLAG, SUPERSEDES, summary
from credreg_shared.storage.ports import APPLIED_EVENTS_FIELD, Document

CREDENTIALS = "credentials"
BODIES = "credential_bodies"
LINES = "credential_lines"
LISTS = "lists"
LIST_HEADS = "list_heads"
COUNTERS = "counters"
VIEW_GENERATION = "view_generation"

HEAD_EVERY = 8
"""A list's head is written when its chunk count reaches a multiple of this."""

PLACEHOLDERS = "placeholders"
"""Counter of credentials whose lifecycle events came before their ``issued`` event."""

BOOKKEEPING = (APPLIED_EVENTS_FIELD, "placed")
"""Fields of a credential document that no answer shows."""

ADDED_TO_SETS = (APPLIED_EVENTS_FIELD, SUPERSEDES)
"""Fields of a credential document that its update adds to (``$addToSet``), never sets whole."""


def portfolio_list(holder_id: str) -> str:
    """The list of a holder's credentials."""
    return f"holder:{holder_id}"


# Remembered: the fold of every issued credential names its list, and few achievements recur.
@functools.lru_cache(maxsize=4096)
def achievement_list(issuer_id: str, achievement_id: str) -> str:
    """The list of the credentials an institution issued for one of its achievements (what a
    pathway's definition checks and walks)."""
    return f"achievement:{json.dumps([issuer_id, achievement_id])}"


def chunk_id(number: int, list_id: str) -> str:
    """The ``_id`` of chunk `number` of a list."""
    return f"{number}:{list_id}"


PROBE = 2
"""Chunk ids a count looks for at once (a holder's list mostly has none or one yet)."""


async def chunk_counts(
    existing: Callable[[Sequence[str]], Awaitable[set[str]]],
    lists: Sequence[str],
    heads: Awaitable[Mapping[str, int]],
) -> dict[str, int]:
    """How many chunks each list has: from its head on, the first chunk number not written.

    For the lists whose count the projection no longer remembers: opening a chunk that exists
    would fail the batch's insert, which FerretDB then redoes one document at a time.
    `existing` answers which of some chunk ids exist (one read by ``_id`` per round); the first
    round looks from chunk 0 while `heads` are read, and only lists whose head or chunks go
    further take another.
    """
    counts: dict[str, int] = {}
    found, known_heads = await asyncio.gather(
        existing([chunk_id(n, list_id) for list_id in lists for n in range(PROBE)]), heads
    )
    starts = {list_id: 0 for list_id in lists}
    while starts:
        further: dict[str, int] = {}
        for list_id, start in starts.items():
            number = start
            while number < start + PROBE and chunk_id(number, list_id) in found:
                number += 1
            head = known_heads.get(list_id, 0)
            if number < start + PROBE and number >= head:
                counts[list_id] = number
            else:
                further[list_id] = max(number, head)
        starts = further
        if starts:
            found = await existing(
                [chunk_id(n, list_id) for list_id, s in starts.items() for n in range(s, s + PROBE)]
            )
    return counts


def generation_database(base: str, generation: int) -> str:
    """The database that holds a generation of the view."""
    return base if generation == 0 else f"{base}_g{generation}"


def generation_group(base: str, generation: int, attempt: str) -> str:
    """The consumer group of one attempt to build a generation of the view."""
    return f"{base}-g{generation}-{attempt}"


@dataclass(frozen=True)
class Generation:
    """A generation of the view: its number and the consumer group that writes it."""

    number: int
    group: str


def line(document: Mapping[str, Any]) -> Document:
    """The page line of an issued credential's state document."""
    shown = summary(document).model_dump()
    return {"_id": shown.pop("id"), **shown}


def status_counter(status: str) -> str:
    """The counter field of issued credentials with this status."""
    return f"issued_{status}"


def counted_as(document: Mapping[str, Any] | None) -> str | None:
    """Which counter a credential document counts in (None: not in the view).

    A replacement's placeholder that only a supersession link made has no status: no event of
    its own came yet, so it counts nowhere (its ``issued`` event counts it as usual).
    """
    if document is None or "status" not in document:
        return None
    return status_counter(document["status"]) if document.get(ISSUED_FLAG) else PLACEHOLDERS


@dataclass(frozen=True)
class ViewSnapshot:
    """What a batch needs to read before it folds: credential documents, heads, counted offsets."""

    credentials: Mapping[str, Document]
    list_heads: Mapping[str, int]
    """List → chunks its head records (absent: none recorded)."""
    counted_offsets: Mapping[str, int]
    """Counter id → last offset counted (absent: nothing counted yet)."""
    list_chunks: Mapping[str, int] = field(default_factory=dict)
    """List → chunks it has, for the lists the batch asked to count (`chunk_counts`)."""


@dataclass(frozen=True)
class CounterChange:
    """Compare-and-set of a partition's counters: offset `expected` (None: new) to `offset`."""

    counter_id: str
    expected: int | None
    offset: int
    deltas: Mapping[str, int]


@dataclass(frozen=True)
class CredentialChange:
    """A credential document written by a batch: inserted whole, or updated field by field."""

    document: Document
    new_events: Sequence[str]
    original: Document | None

    def update(self) -> Document:
        """The update document from `original` to `document` (applied events and superseded
        credentials added to their sets)."""
        original = self.original or {}
        changed = {
            name: value
            for name, value in self.document.items()
            if name not in ADDED_TO_SETS and original.get(name, _MISSING) != value
        }
        removed = {name: "" for name in original if name not in self.document}
        # Added, never set whole: a replacement's links come from the partitions of the
        # credentials it replaced, whose consumers may write the same document at once.
        superseded = [
            i for i in self.document.get(SUPERSEDES, []) if i not in original.get(SUPERSEDES, [])
        ]
        added: Document = {}
        if self.new_events:
            added[APPLIED_EVENTS_FIELD] = {"$each": list(self.new_events)}
        if superseded:
            added[SUPERSEDES] = {"$each": superseded}
        update: Document = {}
        if added:
            update["$addToSet"] = added
        if changed:
            update["$set"] = changed
        if removed:
            update["$unset"] = removed
        return update


_MISSING = object()


@dataclass(frozen=True)
class ChunkWrite:
    """Ids for one chunk: inserted as a new chunk, or added to the chunk that holds them."""

    list_id: str
    chunk: int
    ids: Sequence[str]
    new: bool

    @property
    def document_id(self) -> str:
        """The chunk's ``_id``."""
        return chunk_id(self.chunk, self.list_id)

    def document(self) -> Document:
        """The whole chunk, to insert."""
        return {"_id": self.document_id, "ids": list(self.ids)}

    def update(self) -> Document:
        """The ids added to the chunk (when it exists already, or to mend it)."""
        return {"$addToSet": {"ids": {"$each": list(self.ids)}}}


@dataclass
class ViewChanges:
    """Everything one batch writes, collection by collection, in the order to write it."""

    counters: list[CounterChange] = field(default_factory=list)
    bodies: list[Document] = field(default_factory=list)
    """Credentials as issued (``{_id, json}``), written before their state documents."""
    credentials: list[CredentialChange] = field(default_factory=list)
    lines: dict[str, Document] = field(default_factory=dict)
    """Credential id → its page line, written after the states."""
    new_lines: set[str] = field(default_factory=set)
    """Lines of credentials issued by this batch: inserted (the others upserted)."""
    chunk_ids: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    """(list, chunk) → credential ids this batch puts there."""
    new_chunks: set[tuple[str, int]] = field(default_factory=set)
    """The chunks this batch opens (the others it mends)."""
    shown: list[Document] = field(default_factory=list)
    """Every issued credential the batch touched (redelivered ones too), as written: what
    pathway progress follows after the write."""

    def add_to_chunk(self, list_id: str, chunk: int, credential_id: str, *, new: bool) -> None:
        """Put a credential id in a chunk this batch writes."""
        self.chunk_ids.setdefault((list_id, chunk), []).append(credential_id)
        if new:
            self.new_chunks.add((list_id, chunk))

    def chunk_writes(self) -> list[ChunkWrite]:
        """Every chunk this batch writes."""
        return [
            ChunkWrite(list_id, chunk, ids, (list_id, chunk) in self.new_chunks)
            for (list_id, chunk), ids in self.chunk_ids.items()
        ]

    def next_chunks(self) -> dict[str, int]:
        """Each list's chunk count once this batch is written."""
        counts: dict[str, int] = {}
        for list_id, chunk in self.chunk_ids:
            counts[list_id] = max(counts.get(list_id, 0), chunk + 1)
        return counts

    def head_writes(self) -> dict[str, int]:
        """List → chunk count, for the heads due a write (every `HEAD_EVERY` chunks)."""
        return {
            list_id: count
            for list_id, count in self.next_chunks().items()
            if (list_id, count - 1) in self.new_chunks and count % HEAD_EVERY == 0
        }
