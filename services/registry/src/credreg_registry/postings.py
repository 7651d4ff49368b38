"""Employer search's posting lists: their entries (a credential id and a *signature* of every
posting key of the credential) and the walk of the list a search drives by (``holder_layout``).

A search reads few consents because of the signatures: a posting whose signature lacks a bit of
the search's other filters cannot match and is passed over unread; the rest (the *candidates*)
are checked exactly against their consents, in list order, as few at a time as the page needs.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from credreg_registry.holder_layout import (
    POSTING_CHUNK,
    SEARCH_HEADS,
    SEARCH_POSTINGS,
    posting_chunk_id,
)
from credreg_registry.ports import HolderStore

SIGNATURE_HEX = 64
"""A signature is 256 bits, written as 64 hex digits."""
SIGNATURE_HASHES = 3
"""Bits a key sets in a signature. About 25 keys a credential set ~25 % of 256 bits, so a
posting that misses one filter passes for a candidate 1.6 % of the time (0.25³)."""
LEGACY_HEX = 16
"""Postings written before 256-bit signatures carry a 64-bit one, one bit per key."""
CHUNKS_PER_READ = 8
"""Chunks of the driver's list one read asks for, at most."""
CACHED_CHUNKS = 1024
"""Full posting chunks a registry process keeps in memory (~15 KB each): the heads of the lists
employers search most are then read from memory, and a search reads its consents and lines only."""
SIZES_KEPT = 100_000
"""Posting lists whose lower bound of size a registry process keeps, at most."""


def signature(keys: Iterable[str]) -> int:
    """A 256-bit Bloom mask of posting keys: each key sets `SIGNATURE_HASHES` hashed bits."""
    mask = 0
    for key in keys:
        for bit in hashlib.blake2b(key.encode(), digest_size=SIGNATURE_HASHES).digest():
            mask |= 1 << bit
    return mask


def legacy_signature(keys: Iterable[str]) -> int:
    """The 64-bit mask of postings written before `signature`: one hashed bit per key."""
    mask = 0
    for key in keys:
        mask |= 1 << (int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest()) % 64)
    return mask


def posting(credential_id: str, keys: Iterable[str]) -> str:
    """A posting list entry: the credential id and its keys' signature (64 hex digits)."""
    return f"{credential_id} {signature(keys):0{SIGNATURE_HEX}x}"


@dataclass(frozen=True)
class Wanted:
    """The signature bits a candidate must carry: every filter's key."""

    mask: int
    legacy: int

    @classmethod
    def of(cls, keys: Iterable[str]) -> Wanted:
        """The bits of these posting keys, in both widths."""
        listed = list(keys)
        return cls(signature(listed), legacy_signature(listed))

    def candidate(self, entry: str) -> str | None:
        """The entry's credential id if its signature carries every wanted bit (an entry whose
        signature cannot be read is a candidate: the exact check decides), else None."""
        credential_id, _, written = entry.rpartition(" ")
        if not credential_id:
            return entry
        try:
            mask = int(written, 16)
        except ValueError:
            return credential_id
        if len(written) == SIGNATURE_HEX:
            return credential_id if mask & self.mask == self.mask else None
        if len(written) <= LEGACY_HEX:
            return credential_id if mask & self.legacy == self.legacy else None
        return credential_id


class PostingLists:
    """The posting lists as a search reads them, with what never has to be read twice kept in
    memory. A full chunk never changes: each slot of a list is handed out once, by its head's
    ``$inc``, and a posting is never removed. A list only grows, so any size once read (or
    implied by a full chunk) stays a lower bound of its size; the last `capacity` full chunks
    used are kept."""

    def __init__(self, holders: HolderStore, *, capacity: int = CACHED_CHUNKS) -> None:
        self.holders = holders
        self.capacity = capacity
        self._full: OrderedDict[str, list[str]] = OrderedDict()
        self._sizes: dict[str, int] = {}

    async def sizes(self, keys: Sequence[str]) -> dict[str, int]:
        """Each list's size, read from its head (a list never posted to: 0)."""
        found = {
            str(d["_id"]): int(d.get("n", 0))
            for d in await self.holders.find_many(SEARCH_HEADS, list(keys))
        }
        for key, size in found.items():
            self._saw(key, size)
        return {key: found.get(key, 0) for key in keys}

    def at_least(self, key: str) -> int:
        """A lower bound of the list's size, known without a read (0: nothing known)."""
        return self._sizes.get(key, 0)

    def in_memory(self, chunk_ids: Sequence[str]) -> dict[str, list[str]] | None:
        """These chunks' postings if every one of them is full and in memory, else None."""
        found: dict[str, list[str]] = {}
        for chunk_id in chunk_ids:
            if (kept := self._recall(chunk_id)) is None:
                return None
            found[chunk_id] = kept
        return found

    async def chunks(self, chunk_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each chunk id's postings (a chunk not written: none), reading only what memory
        lacks."""
        found: dict[str, list[str]] = {}
        for chunk_id in chunk_ids:
            if (kept := self._recall(chunk_id)) is not None:
                found[chunk_id] = kept
        missing = [chunk_id for chunk_id in chunk_ids if chunk_id not in found]
        if missing:
            for document in await self.holders.find_many(SEARCH_POSTINGS, missing):
                ids = document.get("ids")
                entries = [str(i) for i in ids] if isinstance(ids, list) else []
                found[str(document["_id"])] = entries
                if len(entries) == POSTING_CHUNK:
                    self._keep(str(document["_id"]), entries)
        return {chunk_id: found.get(chunk_id, []) for chunk_id in chunk_ids}

    def _recall(self, chunk_id: str) -> list[str] | None:
        """A full chunk's postings from memory (now the most recently used), or None."""
        kept = self._full.get(chunk_id)
        if kept is not None:
            self._full.move_to_end(chunk_id)
        return kept

    def _keep(self, chunk_id: str, entries: list[str]) -> None:
        self._full[chunk_id] = entries
        self._full.move_to_end(chunk_id)
        while len(self._full) > self.capacity:
            self._full.popitem(last=False)
        chunk, _, key = chunk_id.partition(":")
        self._saw(key, (int(chunk) + 1) * POSTING_CHUNK)  # its slots were all handed out

    def _saw(self, key: str, size: int) -> None:
        if size > self._sizes.get(key, 0):
            if key not in self._sizes and len(self._sizes) >= SIZES_KEPT:
                self._sizes.clear()  # posting keys are few; a flood of new ones starts afresh
            self._sizes[key] = size


@dataclass(frozen=True)
class Candidate:
    """A posting that passed the signature check, where it stands in the walk."""

    credential_id: str
    chunk: int
    after: int
    """The offset in its chunk after it (the walk's position once it is looked at)."""
    examined: int
    """Postings the walk has looked at up to and including it."""


class DriverWalk:
    """The driver's posting list from a position on, up to a number of postings: read a run of
    chunks at a time, each posting looked at once, the candidates handed out in list order."""

    def __init__(
        self,
        lists: PostingLists,
        key: str,
        *,
        name: str,
        size: int,
        start: tuple[int, int],
        budget: int,
        wanted: Wanted,
        sized: bool = True,
    ) -> None:
        self.lists = lists
        self.key = key
        self.name = name
        """The filter whose list this is (cursors name it)."""
        self.last_chunk = (size - 1) // POSTING_CHUNK
        self.sized = sized
        """Whether `size` was read from the list's head during this search; if not, it is a
        lower bound from memory, and the head is read once the walk gets to its end."""
        self.chunk, self.offset = start
        self.budget = budget
        self.wanted = wanted
        self.examined = 0
        self.candidates: list[Candidate] = []
        self.lengths: dict[int, int] = {}
        self._chunks: dict[int, list[str]] = {}

    @property
    def exhausted(self) -> bool:
        """Every posting the walk may look at has been looked at (budget or end of list)."""
        return self.examined >= self.budget or (self.chunk > self.last_chunk and self.sized)

    def chunk_ids(self, postings: int) -> list[str]:
        """The ids of the chunks (not read yet) that hold the next `postings` postings."""
        first = self.chunk
        last = min(
            self.last_chunk,
            first + (self.offset + postings - 1) // POSTING_CHUNK,
            first + CHUNKS_PER_READ - 1,
        )
        return [
            posting_chunk_id(n, self.key) for n in range(first, last + 1) if n not in self._chunks
        ]

    def take(self, chunks: dict[str, list[str]]) -> None:
        """Keep read chunks, by their ids (as `PostingChunks.read` answers them)."""
        for chunk_id, entries in chunks.items():
            self._chunks[int(chunk_id.split(":", 1)[0])] = entries

    async def read(self, postings: int) -> None:
        """Read the chunks that hold the next `postings` postings, then look at what they hold."""
        if self.chunk > self.last_chunk and not self.sized:
            await self.resize()
        chunk_ids = self.chunk_ids(postings)
        if chunk_ids:
            self.take(await self.lists.chunks(chunk_ids))
        self.look()

    async def resize(self) -> None:
        """Read the list's size from its head (it may have grown past the bound in memory)."""
        size = (await self.lists.sizes([self.key]))[self.key]
        self.last_chunk = max(self.last_chunk, (size - 1) // POSTING_CHUNK)
        self.sized = True

    async def finished_at(self, chunk: int, offset: int) -> bool:
        """Whether nothing of the list is left after this position, its size read first if
        the answer depends on postings past the bound in memory."""
        if not self.sized and self.done_at(chunk, offset):
            await self.resize()
        return self.done_at(chunk, offset)

    def look(self) -> None:
        """Look at every posting of the chunks in hand, in order, within the budget."""
        while not self.exhausted and self.chunk in self._chunks:
            ids = self._chunks[self.chunk]
            self.lengths[self.chunk] = len(ids)
            while self.offset < len(ids) and self.examined < self.budget:
                entry = ids[self.offset]
                self.offset += 1
                self.examined += 1
                credential_id = self.wanted.candidate(entry)
                if credential_id is not None:
                    self.candidates.append(
                        Candidate(credential_id, self.chunk, self.offset, self.examined)
                    )
            if self.offset < len(ids):
                break  # the budget ran out inside this chunk
            if self.examined >= self.budget and self.offset:
                break  # stop at the chunk's end, as a walk that ran out inside it would
            self.chunk, self.offset = self.chunk + 1, 0

    def done_at(self, chunk: int, offset: int) -> bool:
        """Whether nothing of the list is left after this position."""
        return chunk > self.last_chunk or (
            chunk == self.last_chunk and offset >= self.lengths.get(chunk, 0)
        )
