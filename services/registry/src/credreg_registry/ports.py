"""The registry's ports: the view's documents to read, and the store a projected batch writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from credreg_registry.layout import Generation, ViewChanges, ViewSnapshot
from credreg_shared.api_keys import InstitutionKeys
from credreg_shared.credentials.verification import VerificationMaterial
from credreg_shared.messaging.ports import EventPublisher
from credreg_shared.storage.ports import Document
from credreg_shared.workers import Worker


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
        count_lists: Sequence[str] = (),
    ) -> ViewSnapshot:
        """The credential documents, list heads and counted offsets a batch needs, and the
        chunk counts of `count_lists` (``layout.chunk_counts``)."""
        ...

    async def save(self, changes: ViewChanges) -> None:
        """Write a folded batch: counters, then credentials, then list chunks, then heads."""
        ...


class GenerationPointer(Protocol):
    """Which generation of the view serves (0 until a rebuild moves it)."""

    async def active(self, base_group: str) -> Generation:
        """The generation that serves now (generation 0 is written by `base_group`)."""
        ...

    async def switch(self, expected: int, generation: Generation) -> bool:
        """Move from generation `expected` on; False when another rebuild moved it first."""
        ...


class VerificationMaterialSource(Protocol):
    """DID documents and status lists a credential's verification needs (fetched as a verifier
    would: `credreg_shared.credentials.resolution.MaterialFetcher`)."""

    async def fetch_for(self, credential: Any) -> VerificationMaterial:
        """What `credential`'s checks need, and what could not be fetched."""
        ...


class Challenges(Protocol):
    """Single-use DID-authentication challenges (in the service's base database)."""

    async def create(self, holder_id: str, *, expires_at: datetime) -> str:
        """A new unguessable challenge for `holder_id`."""
        ...

    async def take(self, challenge: str) -> tuple[str, datetime] | None:
        """(holder id, expiry) of a challenge, removed so that it serves once; None if unknown
        or already taken."""
        ...


class DocumentSource(Protocol):
    """Fetches a DID document (did:web) as the verifier fetches its material."""

    async def get_json(self, url: str) -> dict[str, Any]:
        """One JSON object from `url`; `FetchRefused` otherwise."""
        ...


class HolderStore(Protocol):
    """The holders' own data in the service's base database (not a view generation: a rebuild
    keeps it): search consents and postings, share links. Every read is by ``_id``."""

    async def find_one(self, collection: str, document_id: str) -> Document | None:
        """One document, or None."""
        ...

    async def find_many(self, collection: str, document_ids: Sequence[str]) -> list[Document]:
        """The documents that exist among these ids, in no particular order."""
        ...

    async def set_consent(
        self, credential_id: str, fields: Mapping[str, Any], *, claim_posting: bool
    ) -> Document | None:
        """Set a consent document's fields (created if absent); with `claim_posting`, mark it
        posted in the same write. Answers the document as it was before (None: new)."""
        ...

    async def unclaim_posting(self, credential_id: str) -> None:
        """Forget that a consent's postings were claimed (they failed: the next consent posts)."""
        ...

    async def append_posting(self, key: str, credential_id: str) -> None:
        """Add a credential to the end of a posting list (its head counts the slot)."""
        ...

    async def insert(self, collection: str, document: Document) -> None:
        """Insert a new document."""
        ...

    async def add_to_list(self, collection: str, document_id: str, field: str, value: str) -> None:
        """Add `value` to the array `field` of a document (created if absent)."""
        ...

    async def remove_from_list(
        self, collection: str, document_id: str, field: str, values: Sequence[str]
    ) -> None:
        """Remove `values` from the array `field` of a document."""
        ...

    async def set_fields(
        self, collection: str, document_id: str, fields: Mapping[str, Any]
    ) -> bool:
        """Set fields of an existing document; False when there is none."""
        ...


@dataclass(frozen=True)
class Adapters:
    """What the registry's use cases and projection need: the view, to read and to write.

    `background` holds the real service's view follower (it consumes into the serving
    generation); fakes leave it empty.
    """

    documents: ViewDocuments
    store: ViewStore
    background: Mapping[str, Worker] = field(default_factory=dict)
    verification_material: VerificationMaterialSource | None = None
    """None: `POST /v1/verify` checks offline only (did:key issuers)."""
    challenges: Challenges | None = None
    documents_source: DocumentSource | None = None
    keys: InstitutionKeys | None = None
    """Institutions' API keys kept by the issuer, as the log announced them."""
    holders: HolderStore | None = None
    """Search consents and postings, share links (None: kept in memory, for unit tests)."""
    pathways: Any = None
    """The pathways' `PathwayStore` (None: kept in memory, for unit tests)."""
    publisher: EventPublisher | None = None
    """Where `pathway.defined` and `pathway.completed` go (None: in memory, for unit tests)."""
    ensure_topics: Callable[[Mapping[str, int]], Awaitable[object]] | None = None
    """Creates missing topics (the pathways topic) at start-up; None with fakes."""
