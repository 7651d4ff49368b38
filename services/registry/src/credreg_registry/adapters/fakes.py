"""The registry's view in memory, for unit tests: the same layout and updates as MongoDB's."""

from __future__ import annotations

import copy
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from credreg_registry.holder_layout import (
    POSTING_CHUNK,
    SEARCH_CONSENTS,
    SEARCH_HEADS,
    SEARCH_POSTINGS,
    posting_chunk_id,
)
from credreg_registry.layout import (
    BODIES,
    COUNTERS,
    CREDENTIALS,
    LINES,
    LIST_HEADS,
    LISTS,
    ViewChanges,
    ViewSnapshot,
    chunk_counts,
)
from credreg_registry.pathway_layout import (
    BACKFILL_QUEUE,
    COMPLETIONS,
    COMPONENTS,
    HOLDER_PATHWAYS,
    OUTBOX,
    PATHWAY_INDEX,
    PATHWAYS,
    QUEUE_ID,
    index_key,
)
from credreg_shared.storage.fakes import apply_update
from credreg_shared.storage.ports import APPLIED_EVENTS_FIELD, Document


class InMemoryView:
    """``ViewDocuments`` and ``ViewStore`` over dictionaries (collection → ``_id`` → document)."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Document]] = defaultdict(dict)

    async def find_one(
        self, collection: str, document_id: str, *, without: Sequence[str] = ()
    ) -> Document | None:
        """One document, or None; fields in `without` left out."""
        found = self.collections[collection].get(document_id)
        if found is None:
            return None
        return {k: copy.deepcopy(v) for k, v in found.items() if k not in without}

    async def find_many(
        self, collection: str, document_ids: Sequence[str], *, without: Sequence[str] = ()
    ) -> list[Document]:
        """The documents that exist among these ids."""
        found = [await self.find_one(collection, i, without=without) for i in document_ids]
        return [d for d in found if d is not None]

    async def find_all(self, collection: str) -> list[Document]:
        """Every document of the collection."""
        return copy.deepcopy(list(self.collections[collection].values()))

    async def snapshot(
        self,
        *,
        credential_ids: Sequence[str],
        lists: Sequence[str],
        counter_ids: Sequence[str],
        count_lists: Sequence[str] = (),
    ) -> ViewSnapshot:
        """The credential documents, list heads and counted offsets a batch needs, and the
        chunk counts of `count_lists`."""
        heads = {d["_id"]: d["chunks"] for d in await self.find_many(LIST_HEADS, lists)}

        async def existing(ids: Sequence[str]) -> set[str]:
            return {d["_id"] for d in await self.find_many(LISTS, ids)}

        async def read_heads() -> dict[str, int]:
            return heads

        return ViewSnapshot(
            credentials={d["_id"]: d for d in await self.find_many(CREDENTIALS, credential_ids)},
            list_heads=heads,
            counted_offsets={
                d["_id"]: d["offset"] for d in await self.find_many(COUNTERS, counter_ids)
            },
            list_chunks=await chunk_counts(existing, count_lists, read_heads()),
        )

    async def save(self, changes: ViewChanges) -> None:
        """Write a folded batch as MongoDB would (compare-and-set counters, updates, upserts)."""
        self._save_counters(changes)
        for body in changes.bodies:
            self.collections[BODIES].setdefault(body["_id"], copy.deepcopy(body))
        credentials = self.collections[CREDENTIALS]
        for credential in changes.credentials:
            document_id = credential.document["_id"]
            if credential.original is None:
                credentials[document_id] = copy.deepcopy(credential.document)
                continue
            current = credentials[document_id]
            if not set(credential.new_events) & set(current.get(APPLIED_EVENTS_FIELD, [])):
                credentials[document_id] = apply_update(current, credential.update(), insert=False)
        for credential_id, shown in changes.lines.items():
            self.collections[LINES][credential_id] = copy.deepcopy(shown)
        chunks = self.collections[LISTS]
        for write in changes.chunk_writes():
            existing = chunks.get(write.document_id)
            chunks[write.document_id] = apply_update(
                existing or {"_id": write.document_id}, write.update(), insert=existing is None
            )
        heads = self.collections[LIST_HEADS]
        for list_id, count in changes.head_writes().items():
            head = heads.setdefault(list_id, {"_id": list_id, "chunks": 0})
            head["chunks"] = max(head["chunks"], count)

    def _save_counters(self, changes: ViewChanges) -> None:
        counters = self.collections[COUNTERS]
        for change in changes.counters:
            current = counters.get(change.counter_id)
            if change.expected is None and current is None:
                counters[change.counter_id] = {
                    "_id": change.counter_id,
                    "offset": change.offset,
                    **change.deltas,
                }
            elif current is not None and current["offset"] == change.expected:
                current["offset"] = change.offset
                for name, delta in change.deltas.items():
                    current[name] = current.get(name, 0) + delta


class InMemoryChallenges:
    """`Challenges` in memory."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[str, datetime]] = {}

    async def create(self, holder_id: str, *, expires_at: datetime) -> str:
        """A new unguessable challenge for `holder_id`."""
        challenge = secrets.token_urlsafe(32)
        self.kept[challenge] = (holder_id, expires_at)
        return challenge

    async def take(self, challenge: str) -> tuple[str, datetime] | None:
        """(holder id, expiry) of a challenge, removed so that it serves once."""
        return self.kept.pop(challenge, None)


class InMemoryHolderStore:
    """`HolderStore` over dictionaries (collection → ``_id`` → document)."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Document]] = defaultdict(dict)

    async def find_one(self, collection: str, document_id: str) -> Document | None:
        """One document, or None."""
        return copy.deepcopy(self.collections[collection].get(document_id))

    async def find_many(self, collection: str, document_ids: Sequence[str]) -> list[Document]:
        """The documents that exist among these ids."""
        found = self.collections[collection]
        return [copy.deepcopy(found[i]) for i in dict.fromkeys(document_ids) if i in found]

    async def set_consent(
        self, credential_id: str, fields: Mapping[str, Any], *, claim_posting: bool
    ) -> Document | None:
        """Set a consent's fields; answers the document as it was before."""
        consents = self.collections[SEARCH_CONSENTS]
        before = copy.deepcopy(consents.get(credential_id))
        document = consents.setdefault(credential_id, {"_id": credential_id})
        document.update(copy.deepcopy(dict(fields)))
        if claim_posting:
            document["posted"] = True
        return before

    async def unclaim_posting(self, credential_id: str) -> None:
        """Forget that a consent's postings were claimed."""
        self.collections[SEARCH_CONSENTS].get(credential_id, {}).pop("posted", None)

    async def append_posting(self, key: str, credential_id: str) -> None:
        """Add a credential to the end of a posting list."""
        head = self.collections[SEARCH_HEADS].setdefault(key, {"_id": key, "n": 0})
        head["n"] += 1
        chunk_id = posting_chunk_id((head["n"] - 1) // POSTING_CHUNK, key)
        chunk = self.collections[SEARCH_POSTINGS].setdefault(chunk_id, {"_id": chunk_id, "ids": []})
        if credential_id not in chunk["ids"]:
            chunk["ids"].append(credential_id)

    async def insert(self, collection: str, document: Document) -> None:
        """Insert a new document (a duplicate ``_id`` is an error, as in MongoDB)."""
        if document["_id"] in self.collections[collection]:
            raise ValueError(f"duplicate _id {document['_id']!r} in {collection}")
        self.collections[collection][document["_id"]] = copy.deepcopy(document)

    async def add_to_list(self, collection: str, document_id: str, field: str, value: str) -> None:
        """Add `value` to the array `field` of a document (created if absent)."""
        document = self.collections[collection].setdefault(document_id, {"_id": document_id})
        values = document.setdefault(field, [])
        if value not in values:
            values.append(value)

    async def remove_from_list(
        self, collection: str, document_id: str, field: str, values: Sequence[str]
    ) -> None:
        """Remove `values` from the array `field` of a document."""
        document = self.collections[collection].get(document_id)
        if document is not None:
            document[field] = [v for v in document.get(field, []) if v not in values]

    async def set_fields(
        self, collection: str, document_id: str, fields: Mapping[str, Any]
    ) -> bool:
        """Set fields of an existing document; False when there is none."""
        document = self.collections[collection].get(document_id)
        if document is None:
            return False
        document.update(copy.deepcopy(dict(fields)))
        return True


class InMemoryPathwayStore:
    """``PathwayStore`` over dictionaries, with MongoDB's semantics (unique ``_id`` claims)."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Document]] = defaultdict(dict)

    async def find_one(self, collection: str, document_id: str) -> Document | None:
        """One document, or None."""
        found = self.collections[collection].get(document_id)
        return copy.deepcopy(found) if found is not None else None

    async def find_many(self, collection: str, document_ids: Sequence[str]) -> list[Document]:
        """The documents that exist among these ids."""
        found = [await self.find_one(collection, i) for i in document_ids]
        return [d for d in found if d is not None]

    async def put_definition(self, document: Document, *, dropped: Sequence[str]) -> None:
        """Keep a definition, list it under its achievements, unlist it from `dropped`."""
        pathway_id = document["_id"]
        self.collections[PATHWAYS][pathway_id] = copy.deepcopy(document)
        keys = [index_key(document["issuer_id"], a) for a in document["achievement_ids"]]
        await self.list_pathway(pathway_id, add=keys, remove=dropped)

    async def list_pathway(
        self, pathway_id: str, *, add: Sequence[str], remove: Sequence[str]
    ) -> None:
        """List a pathway under `add`, unlist it from `remove`."""
        index = self.collections[PATHWAY_INDEX]
        for key in add:
            entry = index.setdefault(key, {"_id": key, "pathways": []})
            if pathway_id not in entry["pathways"]:
                entry["pathways"].append(pathway_id)
        for key in remove:
            if key in index:
                index[key]["pathways"] = [p for p in index[key]["pathways"] if p != pathway_id]

    async def delete_definition(self, pathway_id: str, *, event_id: str, at: datetime) -> bool:
        """Mark the definition `event_id` deleted; False when it is not the one kept."""
        found = self.collections[PATHWAYS].get(pathway_id)
        if found is None or found["event_id"] != event_id or found.get("deleted_at") is not None:
            return False
        found["deleted_at"] = at
        return True

    async def save_backfill(
        self, pathway_id: str, *, event_id: str, rev: int, backfill: Document
    ) -> bool:
        """Replace the back-fill if nobody wrote it since `rev`."""
        found = self.collections[PATHWAYS].get(pathway_id)
        if (
            found is None
            or found["event_id"] != event_id
            or found.get("deleted_at") is not None
            or (found.get("backfill") or {}).get("rev") != rev
        ):
            return False
        found["backfill"] = copy.deepcopy(dict(backfill))
        return True

    async def queue_backfill(self, entry: str) -> None:
        """Queue a back-fill (kept once)."""
        queue = self.collections[BACKFILL_QUEUE].setdefault(
            QUEUE_ID, {"_id": QUEUE_ID, "entries": []}
        )
        if entry not in queue["entries"]:
            queue["entries"].append(entry)

    async def dequeue_backfill(self, entry: str) -> None:
        """Drop a back-fill from the queue."""
        queue = self.collections[BACKFILL_QUEUE].get(QUEUE_ID)
        if queue is not None:
            queue["entries"] = [e for e in queue["entries"] if e != entry]

    async def add_components(self, members: Mapping[str, Sequence[str]]) -> None:
        """Add credential ids to components (created if absent)."""
        for key, ids in members.items():
            entry = self.collections[COMPONENTS].setdefault(key, {"_id": key, "ids": []})
            entry["ids"] += [i for i in ids if i not in entry["ids"]]

    async def add_holder_pathways(self, started: Mapping[str, Sequence[str]]) -> None:
        """Note that holders started these pathways."""
        for holder_id, pathway_ids in started.items():
            entry = self.collections[HOLDER_PATHWAYS].setdefault(
                holder_id, {"_id": holder_id, "pathways": []}
            )
            entry["pathways"] += [p for p in pathway_ids if p not in entry["pathways"]]

    async def mark_pending(self, key: str, *, at: datetime) -> None:
        """The outbox marker of a completion about to be claimed (kept if there is one)."""
        self.collections[OUTBOX].setdefault(key, {"_id": key, "at": at})

    async def claim(self, key: str, document: Document) -> bool:
        """Insert the completion; False when it was claimed before."""
        if key in self.collections[COMPLETIONS]:
            return False
        self.collections[COMPLETIONS][key] = copy.deepcopy(document)
        return True

    async def published(self, key: str) -> None:
        """Flag the completion published and drop its marker."""
        if key in self.collections[COMPLETIONS]:
            self.collections[COMPLETIONS][key]["published"] = True
        self.collections[OUTBOX].pop(key, None)

    async def pending(self, *, before: datetime) -> list[str]:
        """The keys of the markers written before `before`."""
        return [k for k, d in self.collections[OUTBOX].items() if d["at"] < before]

    async def drop_marker(self, key: str) -> None:
        """Drop a marker whose claim was never made."""
        self.collections[OUTBOX].pop(key, None)
