"""Employer search over posting lists: signatures, the driver's walk, and every page checked
against a plain reference walk of the same lists (in memory: no Kafka, no MongoDB)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from credreg_registry.adapters.fakes import InMemoryHolderStore
from credreg_registry.holder_layout import (
    POSTING_CHUNK,
    SEARCH_CONSENTS,
    SEARCH_HEADS,
    SEARCH_POSTINGS,
    posting_chunk_id,
)
from credreg_registry.layout import LINES
from credreg_registry.postings import (
    DriverWalk,
    PostingLists,
    Wanted,
    legacy_signature,
    posting,
    signature,
)
from credreg_registry.sharing import (
    SEARCH_EXAMINE_MAX,
    EmployerSearch,
    SearchFilters,
    posting_keys,
    stored_facets,
)
from credreg_shared.storage.ports import Document

pytestmark = pytest.mark.timeout(60)

CID = "urn:uuid:00000000-0000-4000-8000-{:012d}"


# --- signatures ------------------------------------------------------------------------------


def test_a_posting_carries_a_256_bit_signature_of_three_bits_a_key() -> None:
    keys = ["competency:ds-1", "issuer:did:web:uni.example", "hours:40"]
    entry = posting(CID.format(1), keys)
    credential_id, _, written = entry.rpartition(" ")
    assert credential_id == CID.format(1) and len(written) == 64
    assert int(written, 16) == signature(keys) < 2**256
    assert 1 <= signature(keys[:1]).bit_count() <= 3
    assert signature(keys) == signature(keys[:1]) | signature(keys[1:])


def test_a_candidate_carries_every_wanted_bit_in_either_width() -> None:
    held = ["competency:ds-1", "type:badge", "delivery:online"]
    wanted = Wanted.of(["competency:ds-1", "delivery:online"])
    assert wanted.candidate(posting(CID.format(1), held)) == CID.format(1)
    legacy = f"{CID.format(2)} {legacy_signature(held):x}"
    assert wanted.candidate(legacy) == CID.format(2)
    missing = Wanted.of(["competency:ds-1", "delivery:in-person"])
    assert signature(held) & missing.mask != missing.mask  # the keys chosen do not collide
    assert legacy_signature(held) & missing.legacy != missing.legacy
    assert missing.candidate(posting(CID.format(1), held)) is None
    assert missing.candidate(legacy) is None
    # What cannot be read is left to the exact check.
    assert missing.candidate(f"{CID.format(3)} not-hex") == CID.format(3)
    assert missing.candidate(f"{CID.format(3)} {'f' * 20}") == CID.format(3)
    assert missing.candidate(CID.format(4)) == CID.format(4)


def test_a_posting_that_misses_a_filter_rarely_passes_for_a_candidate() -> None:
    # 2,000 credentials of 25 keys each, and a key none of them has: the old 64-bit signature
    # let ~30 % through to a consent read; the 256-bit one lets ~2 % through.
    rng = random.Random(5)
    wanted = Wanted.of(["competency:wanted", "issuer:x"])
    passed = legacy_passed = 0
    for n in range(2000):
        keys = ["issuer:x", *(f"key:{rng.randrange(10**9)}" for _ in range(24))]
        passed += wanted.candidate(posting(CID.format(n), keys)) is not None
        legacy = f"{CID.format(n)} {legacy_signature(keys):x}"
        legacy_passed += wanted.candidate(legacy) is not None
    assert passed < 2000 * 0.04 < 2000 * 0.2 < legacy_passed


# --- the driver's walk -----------------------------------------------------------------------


async def a_list(store: InMemoryHolderStore, key: str, count: int) -> list[str]:
    """A posting list of `count` entries under `key`; its entries."""
    entries = [posting(CID.format(n), [key]) for n in range(count)]
    for entry in entries:
        await store.append_posting(key, entry)
    return entries


def walk_of(
    store: InMemoryHolderStore, key: str, size: int, *, start: tuple[int, int], budget: int
) -> DriverWalk:
    return DriverWalk(
        PostingLists(store),
        key,
        name="competency",
        size=size,
        start=start,
        budget=budget,
        wanted=Wanted.of([key]),
    )


async def test_a_walk_that_runs_out_of_budget_at_a_chunks_end_stays_there() -> None:
    store = InMemoryHolderStore()
    entries = await a_list(store, "k", 3 * POSTING_CHUNK)
    walk = walk_of(store, "k", len(entries), start=(0, 0), budget=2 * POSTING_CHUNK)
    while not walk.exhausted:
        await walk.read(POSTING_CHUNK)
    assert (walk.chunk, walk.offset, walk.examined) == (1, POSTING_CHUNK, 2 * POSTING_CHUNK)
    assert not walk.done_at(walk.chunk, walk.offset)
    assert [c.credential_id for c in walk.candidates] == [e.split()[0] for e in entries[:200]]
    last = walk.candidates[-1]
    assert (last.chunk, last.after, last.examined) == (1, POSTING_CHUNK, 2 * POSTING_CHUNK)


async def test_a_walk_passes_over_a_missing_chunk_and_ends_after_the_last() -> None:
    store = InMemoryHolderStore()
    entries = await a_list(store, "k", 2 * POSTING_CHUNK + 7)
    del store.collections[SEARCH_POSTINGS][posting_chunk_id(1, "k")]
    walk = walk_of(store, "k", len(entries), start=(0, 3), budget=SEARCH_EXAMINE_MAX)
    while not walk.exhausted:
        await walk.read(50)
    assert walk.examined == POSTING_CHUNK - 3 + 7
    assert (walk.chunk, walk.offset) == (3, 0) and walk.done_at(walk.chunk, walk.offset)


async def test_a_walk_reads_at_most_eight_chunks_at_once() -> None:
    store = RecordingStore()
    await a_list(store, "k", 12 * POSTING_CHUNK)
    walk = walk_of(store, "k", 12 * POSTING_CHUNK, start=(0, 0), budget=SEARCH_EXAMINE_MAX)
    await walk.read(12 * POSTING_CHUNK)
    assert store.reads == [(SEARCH_POSTINGS, 8)] and walk.examined == 8 * POSTING_CHUNK


# --- search against a reference walk ---------------------------------------------------------


class Lines:
    """The view's page lines (the only view documents a search reads)."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}
        self.reads: list[int] = []

    async def find_many(
        self, collection: str, document_ids: Sequence[str], *, without: Sequence[str] = ()
    ) -> list[Document]:
        assert collection == LINES
        self.reads.append(len(document_ids))
        found = [self.documents[i] for i in dict.fromkeys(document_ids) if i in self.documents]
        return copy.deepcopy(found)


class RecordingStore(InMemoryHolderStore):
    """The in-memory holder store, recording each `find_many` (collection, ids asked)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, int]] = []

    async def find_many(self, collection: str, document_ids: Sequence[str]) -> list[Document]:
        self.reads.append((collection, len(document_ids)))
        return await super().find_many(collection, document_ids)


@dataclass
class World:
    """Consenting credentials posted under their keys, some of them as before (64-bit
    signatures, nested facets), some withdrawn, posted twice, or without a line."""

    holders: RecordingStore = field(default_factory=RecordingStore)
    lines: Lines = field(default_factory=Lines)


def facets(rng: random.Random, n: int) -> dict[str, Any]:
    competencies = rng.sample(["ds-1", "ds-2", "ds-3", "fa-1", "fa-2", "https://x.example/c"], 2)
    accredited = rng.random() < 0.4
    return {
        "issuer": rng.choice(["did:web:a.example", "did:web:b.example", "did:web:c.example"]),
        "issuer_name": f"University {n % 3}",
        "type": rng.choice(["MicroCredential", "Badge", "Course"]),
        "competencies": sorted(competencies),
        "competency_names": [c.upper() for c in competencies],
        "hours": rng.choice([None, 0.5, 3.0, 12.0, 40.0, 41.5, 700.0]),
        "delivery": rng.choice([None, "online", "blended", "in-person"]),
        "accreditors": ["quality board"] if accredited else [],
        "accreditor_names": ["Quality Board"] if accredited else [],
        "industry_partners": ["Acme"] if rng.random() < 0.3 else [],
    }


async def world_of(seed: int, count: int, *, clean: bool = False) -> World:
    """`count` credentials; `clean`: none posted twice, no chunk missing."""
    rng = random.Random(seed)
    world = World()
    store = world.holders
    for n in rng.sample(range(count), count):
        credential_id = CID.format(n)
        found = facets(rng, n)
        legacy = rng.random() < 0.2
        store.collections[SEARCH_CONSENTS][credential_id] = {
            "_id": credential_id,
            "searchable": rng.random() > 0.1,
            "holder_id": f"did:example:h{n}",
            "facets": found if legacy else stored_facets(found),
            "posted": True,
        }
        keys = posting_keys(found)
        entry = (
            f"{credential_id} {legacy_signature(keys):x}"
            if legacy
            else posting(credential_id, keys)
        )
        twice = rng.random() < 0.03 and not clean  # posted again after a failed consent
        for _ in range(2 if twice else 1):
            for key in keys:
                await store.append_posting(key, entry)
        if rng.random() > 0.03:  # no line yet: not shown
            world.lines.documents[credential_id] = {
                "_id": credential_id,
                "status": rng.choice(["active", "active", "active", "revoked", "suspended"]),
                "issuer_id": found["issuer"],
                "achievement_name": f"Achievement {n}",
                "achievement_type": found["type"],
                "valid_from": "2026-01-01T00:00:00Z",
            }
    chunks = sorted(store.collections[SEARCH_POSTINGS])
    for chunk_id in [] if clean else rng.sample(chunks, 2):  # its every posting write failed
        del store.collections[SEARCH_POSTINGS][chunk_id]
    store.reads.clear()
    return world


def reference_page(
    world: World, filters: SearchFilters, cursor: str | None, limit: int
) -> tuple[list[str], int, str | None]:
    """What a page must answer: the driver (the cursor's, else the shortest list, ties to the
    first filter) walked one posting after another from the cursor, each credential checked
    exactly, until `limit` hits or the bound of postings."""
    store = world.holders.collections
    keys = filters.keys()
    heads = {k: int(store[SEARCH_HEADS].get(v, {}).get("n", 0)) for k, v in keys.items()}
    if cursor:
        driver, chunk_text, offset_text = cursor.split(".")
        chunk, offset = int(chunk_text), int(offset_text)
    else:
        driver, chunk, offset = min(keys, key=heads.__getitem__), 0, 0
    last = (heads[driver] - 1) // POSTING_CHUNK
    budget = min(SEARCH_EXAMINE_MAX, max(20 * limit, 400))
    hits: list[str] = []
    examined = 0
    position = (last + 1, 0)
    lengths: dict[int, int] = {}
    walked = True
    for n in range(chunk, last + 1):
        ids = store[SEARCH_POSTINGS].get(posting_chunk_id(n, keys[driver]), {}).get("ids", [])
        lengths[n] = len(ids)
        for index in range(offset if n == chunk else 0, len(ids)):
            if examined == budget or len(hits) == limit:
                walked = False
                break
            examined += 1
            position = (n, index + 1)
            credential_id = ids[index].rpartition(" ")[0]
            if credential_id not in hits and is_hit(world, credential_id, filters, keys):
                hits.append(credential_id)
        if not walked:
            break
    if walked and len(hits) < limit:
        position = (last + 1, 0)
    n, after = position
    done = n > last or (n == last and after >= lengths.get(n, 0))
    return hits, examined, None if done else f"{driver}.{n}.{after}"


def is_hit(
    world: World, credential_id: str, filters: SearchFilters, keys: Mapping[str, str]
) -> bool:
    consent = world.holders.collections[SEARCH_CONSENTS].get(credential_id)
    line = world.lines.documents.get(credential_id)
    if consent is None or not consent["searchable"] or line is None:
        return False
    facets = consent["facets"]
    facets = facets if isinstance(facets, dict) else json.loads(facets)
    return filters.matches(facets, set(keys.values())) and (
        filters.status is None or line["status"] == filters.status
    )


def random_filters(rng: random.Random) -> SearchFilters:
    choices: dict[str, Any] = {
        "competency": rng.choice(["DS-1", "ds-2", "fa-1", "https://x.example/c", "none"]),
        "achievement_type": rng.choice(["badge", "Course", "MicroCredential"]),
        "issuer": rng.choice(["did:web:a.example", "did:web:b.example"]),
        "min_hours": rng.choice([1, 3, 10, 12.5, 40, 41.5, 500]),
        "delivery_mode": rng.choice(["online", "blended", "in-person"]),
        "competency_based": True,
        "accredited": True,
        "accredited_by": "Quality Board",
        "industry_aligned": True,
    }
    picked = dict(rng.sample(sorted(choices.items()), rng.choice([1, 1, 2, 2, 3])))
    if rng.random() < 0.2:
        picked["status"] = rng.choice(["active", "revoked"])
    return SearchFilters(**picked)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
async def test_every_page_is_the_reference_walks_page(seed: int) -> None:
    world = await world_of(seed, 1200, clean=seed == 0)
    search = EmployerSearch(documents=world.lines, holders=world.holders)
    rng = random.Random(seed)
    pages = 0
    # Besides random ones, a search that finds nothing in a long list (it stops at its bound of
    # postings, at a chunk's end) and one that finds little.
    nothing = SearchFilters(min_hours=1, status="expired")
    little = SearchFilters(accredited=True, industry_aligned=True, delivery_mode="online")
    for n in range(60):
        filters = [nothing, little][n] if n < 2 else random_filters(rng)
        limit = 20 if n < 2 else rng.choice([1, 5, 20, 20, 100])
        cursor: str | None = None
        while True:
            page = await search.search(filters, cursor, limit)
            expected = reference_page(world, filters, cursor, limit)
            got = ([c.id for c in page.credentials], page.examined, page.next_cursor)
            assert got == expected, (filters, cursor, limit)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert pages > 200  # the filters found long lists, and their cursors were followed


async def test_a_one_filter_page_reads_its_consents_and_lines_once() -> None:
    world = World()
    for n in range(500):
        credential_id = CID.format(n)
        found = {"issuer": "did:web:a.example", "competencies": ["ds-1"], "type": "Badge"}
        world.holders.collections[SEARCH_CONSENTS][credential_id] = {
            "_id": credential_id,
            "searchable": True,
            "facets": stored_facets(found),
        }
        for key in posting_keys(found):
            await world.holders.append_posting(key, posting(credential_id, posting_keys(found)))
        world.lines.documents[credential_id] = {
            "_id": credential_id,
            "status": "active",
            "issuer_id": "did:web:a.example",
            "achievement_name": "A",
            "valid_from": "2026-01-01T00:00:00Z",
        }
    world.holders.reads.clear()
    search = EmployerSearch(documents=world.lines, holders=world.holders)
    page_one = await search.search(SearchFilters(competency="DS-1"), None, 20)
    assert len(page_one.credentials) == 20 and page_one.next_cursor == "competency.0.20"
    # The heads and the first chunk together, then exactly the page's consents and lines.
    assert world.holders.reads == [(SEARCH_HEADS, 1), (SEARCH_POSTINGS, 1), (SEARCH_CONSENTS, 20)]
    assert world.lines.reads == [20]
    # Three filters: the heads, then the candidates' consents (and a few to spare); the
    # driver's first chunk is full, so it comes from memory since the first search.
    world.holders.reads.clear()
    both = SearchFilters(competency="DS-1", achievement_type="badge", issuer="did:web:a.example")
    page = await search.search(both, None, 20)
    assert len(page.credentials) == 20
    assert world.holders.reads == [(SEARCH_HEADS, 3), (SEARCH_CONSENTS, 23)]
    # The first search again: its list's first chunk is full and in memory, and the page ends
    # inside it, so neither the list's size nor its chunk is read.
    world.holders.reads.clear()
    again = await search.search(SearchFilters(competency="DS-1"), None, 20)
    assert again == page_one
    assert world.holders.reads == [(SEARCH_CONSENTS, 20)]


async def test_a_walk_past_the_chunks_in_memory_reads_the_size_and_sees_the_list_grown() -> None:
    store = RecordingStore()
    found = {"issuer": "did:web:a.example", "competencies": ["k"], "type": "Badge"}
    (key,) = SearchFilters(competency="k").keys().values()
    assert key in posting_keys(found)

    async def consenting(numbers: range) -> None:
        for n in numbers:
            store.collections[SEARCH_CONSENTS][CID.format(n)] = {
                "_id": CID.format(n),
                "searchable": True,
                "facets": stored_facets(found),
            }
            await store.append_posting(key, posting(CID.format(n), posting_keys(found)))

    await consenting(range(POSTING_CHUNK))
    lines = Lines()
    lines.documents = {
        CID.format(n): {
            "_id": CID.format(n),
            "status": "active",
            "issuer_id": "did:web:a.example",
            "achievement_name": "A",
            "valid_from": "2026-01-01T00:00:00Z",
        }
        for n in range(POSTING_CHUNK + 50)
    }
    search = EmployerSearch(documents=lines, holders=store)
    first = await search.search(SearchFilters(competency="k"), None, POSTING_CHUNK)
    assert len(first.credentials) == POSTING_CHUNK and first.next_cursor is None
    # The list grows past the full chunk in memory: a search from memory alone would stop at
    # its end; the walk reads the size there and goes on.
    await consenting(range(POSTING_CHUNK, POSTING_CHUNK + 50))
    store.reads.clear()
    grown = await search.search(SearchFilters(competency="k"), None, 120)
    assert [c.id for c in grown.credentials] == [CID.format(n) for n in range(120)]
    assert grown.next_cursor == "competency.1.20"
    assert store.reads[0] == (SEARCH_HEADS, 1)  # the first chunk came from memory
    # From memory again (the first chunk, a size of 150 known), but the holders of 90 of the
    # first chunk's credentials withdrew: the walk goes on into the chunk after it.
    for n in range(90):
        store.collections[SEARCH_CONSENTS][CID.format(n)]["searchable"] = False
    store.collections[SEARCH_HEADS][key]["n"] = POSTING_CHUNK  # as a search saw it earlier:
    search = EmployerSearch(documents=lines, holders=store)
    await search.search(SearchFilters(competency="k"), None, 5)  # it keeps 100 and chunk 0
    store.collections[SEARCH_HEADS][key]["n"] = POSTING_CHUNK + 50
    store.reads.clear()
    fewer = await search.search(SearchFilters(competency="k"), None, 20)
    assert [c.id for c in fewer.credentials] == [CID.format(n) for n in range(90, 110)]
    assert fewer.next_cursor == "competency.1.10"
    assert (SEARCH_HEADS, 1) in store.reads and (SEARCH_POSTINGS, 1) in store.reads
    # A walk sized from memory that ends where the memory's size ends reads the size before it
    # says the list is done.
    for size, done in ((POSTING_CHUNK + 50, False), (POSTING_CHUNK, True)):
        store.collections[SEARCH_HEADS][key]["n"] = size
        store.reads.clear()
        walk = DriverWalk(
            PostingLists(store),
            key,
            name="competency",
            size=POSTING_CHUNK,
            start=(0, 0),
            budget=SEARCH_EXAMINE_MAX,
            wanted=Wanted.of([key]),
            sized=False,
        )
        assert await walk.finished_at(0, POSTING_CHUNK) is done
        assert store.reads == [(SEARCH_HEADS, 1)] and walk.sized


async def test_full_chunks_are_read_once_and_the_last_one_every_time() -> None:
    store = RecordingStore()
    await a_list(store, "k", POSTING_CHUNK + 30)
    chunks = PostingLists(store, capacity=1)
    first, last = posting_chunk_id(0, "k"), posting_chunk_id(1, "k")
    assert [len(v) for v in (await chunks.chunks([first, last])).values()] == [POSTING_CHUNK, 30]
    # A full chunk never changes; the last one grows, and a later search must see it grown.
    await store.append_posting("k", posting(CID.format(999), ["k"]))
    got = await chunks.chunks([first, last, posting_chunk_id(2, "k")])
    assert [len(v) for v in got.values()] == [POSTING_CHUNK, 31, 0]
    assert got[first] == store.collections[SEARCH_POSTINGS][first]["ids"]
    assert store.reads == [(SEARCH_POSTINGS, 2), (SEARCH_POSTINGS, 2)]
    # At most `capacity` full chunks are kept: the least recently used is read again.
    await a_list(store, "j", POSTING_CHUNK)
    await chunks.chunks([posting_chunk_id(0, "j")])
    store.reads.clear()
    await chunks.chunks([first, posting_chunk_id(0, "j")])
    assert store.reads == [(SEARCH_POSTINGS, 1)]
