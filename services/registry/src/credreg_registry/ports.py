"""The registry's ports: the view's documents to read, and the store a projected batch writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from credreg_registry.layout import ViewChanges, ViewSnapshot
from credreg_shared.storage.ports import Document


class ViewDocuments(Protocol):
    """Reads view documents by ``_id`` (the only kind of read the registry's answers make)."""

    async def find_one(
        self, collection: str, document_id: str, *, without: Sequence[str] = ()
    ) -> Document | None:
        """One document, or None; fields in `without` left out."""
        ...

    async def find_many(
        self, collection: str, document_ids: Sequence[str], *, without: Sequence[str] = ()
    ) -> list[Document]:
        """The documents that exist among these ids, in no particular order."""
        ...

    async def find_all(self, collection: str) -> list[Document]:
        """Every document of a small collection (the counters)."""
        ...


class ViewStore(Protocol):
    """What the projection reads before folding a batch, and where it writes the result."""

    async def snapshot(
        self,
        *,
        credential_ids: Sequence[str],
        lists: Sequence[str],
        counter_ids: Sequence[str],
    ) -> ViewSnapshot:
        """The credential documents, list heads and counted offsets a batch needs."""
        ...

    async def save(self, changes: ViewChanges) -> None:
        """Write a folded batch: counters, then credentials, then list chunks, then heads."""
        ...


@dataclass(frozen=True)
class Adapters:
    """What the registry's use cases and projection need: the view, to read and to write."""

    documents: ViewDocuments
    store: ViewStore
