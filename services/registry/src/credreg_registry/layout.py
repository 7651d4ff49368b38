"""How the registry's view is laid out in documents, so that every hot read is a lookup by ``_id``.

Collections (all keyed by ``_id``; no read needs a secondary index):

* ``credentials``: one document per credential (``_id`` = credential id), its state and the
  Verifiable Credential; ``applied_events`` makes each event apply once. It also records where
  its derived entries live: ``portfolio_bucket`` and ``posting_buckets`` (``{key, bucket}``).
* ``portfolios``: a holder's summaries, ``PORTFOLIO_BUCKET_SIZE`` per bucket document
  (``_id`` = ``"<n>:<holder id>"``, entries keyed by `entry_key`). Bucket 0 also holds ``last``,
  the highest bucket number. A page of the portfolio is one bucket: one or two lookups.
* ``postings``: competency search, credential ids per competency key, ``POSTING_BUCKET_SIZE``
  per bucket (``_id`` = ``"<n>:<key>"``), bucket 0 holding ``last`` too.
* ``counters``: one document per consumed partition (``_id`` = ``"<topic>:<partition>"``) with
  the counts by status and the offset counted up to, so that stats sum a handful of documents.

Bucket sizes are soft bounds: each bucket counts its entries (``count``), and the projection puts
new entries in the last bucket until it is full. Two replicas that fill the same holder's bucket
at the same moment may each add a batch's worth past the bound, never more.

Entries in ``portfolios`` and ``postings`` derive from the credential document alone and are
written with ``$set`` / ``$addToSet``, so writing them again (after a crash, on redelivery) is
harmless. Counters are not derivable; they move by compare-and-set on the partition's offset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credreg_registry.domain import ISSUED_FLAG, summary
from credreg_shared.storage.ports import APPLIED_EVENTS_FIELD, Document

CREDENTIALS = "credentials"
PORTFOLIOS = "portfolios"
POSTINGS = "postings"
COUNTERS = "counters"

PORTFOLIO_BUCKET_SIZE = 100
POSTING_BUCKET_SIZE = 500

PLACEHOLDERS = "placeholders"
"""Counter of credentials whose lifecycle events came before their ``issued`` event."""

BOOKKEEPING = (APPLIED_EVENTS_FIELD, "portfolio_bucket", "posting_buckets")
"""Fields of a credential document that no answer shows."""


def bucket_id(number: int, key: str) -> str:
    """The ``_id`` of bucket `number` of a holder's portfolio or a competency's postings."""
    return f"{number}:{key}"


def entry_key(credential_id: str) -> str:
    """A credential's key inside a portfolio bucket: short, and never a dotted path."""
    return hashlib.blake2b(credential_id.encode(), digest_size=8).hexdigest()


def status_counter(status: str) -> str:
    """The counter field of issued credentials with this status."""
    return f"issued_{status}"


def counted_as(document: Mapping[str, Any] | None) -> str | None:
    """Which counter a credential document counts in (None: not in the view)."""
    if document is None:
        return None
    return status_counter(document["status"]) if document.get(ISSUED_FLAG) else PLACEHOLDERS


def summary_entry(document: Mapping[str, Any]) -> Document:
    """The portfolio entry of an issued credential document."""
    return summary(document).model_dump()


@dataclass
class Tail:
    """Where a bucketed list ends: its last bucket and how many entries that bucket holds."""

    last: int = 0
    count: int = 0


@dataclass(frozen=True)
class ViewSnapshot:
    """What a batch needs to read before it folds: documents, bucket tails, counted offsets."""

    credentials: Mapping[str, Document]
    portfolio_tails: Mapping[str, Tail]
    posting_tails: Mapping[str, Tail]
    counted_offsets: Mapping[str, int]
    """Counter id → last offset counted (absent: nothing counted yet)."""


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
        """The update document from `original` to `document` (applied events added to the set)."""
        original = self.original or {}
        changed = {
            name: value
            for name, value in self.document.items()
            if name != APPLIED_EVENTS_FIELD and original.get(name, _MISSING) != value
        }
        removed = {name: "" for name in original if name not in self.document}
        update: Document = {}
        if self.new_events:
            update["$addToSet"] = {APPLIED_EVENTS_FIELD: {"$each": list(self.new_events)}}
        if changed:
            update["$set"] = changed
        if removed:
            update["$unset"] = removed
        return update


_MISSING = object()


@dataclass
class ViewChanges:
    """Everything one batch writes, collection by collection, in the order to write it."""

    counters: list[CounterChange] = field(default_factory=list)
    credentials: list[CredentialChange] = field(default_factory=list)
    portfolio_entries: dict[tuple[str, int], dict[str, Document]] = field(default_factory=dict)
    """(holder id, bucket) → entry key → entry."""
    postings: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    """(competency key, bucket) → credential ids."""
    new_in_bucket: dict[tuple[str, str, int], int] = field(default_factory=dict)
    """(collection, key, bucket) → entries newly placed there (the bucket's ``count``)."""

    def bucket_updates(self) -> list[tuple[str, str, Document]]:
        """(collection, ``_id``, update) of every bucket this batch touches, upserted."""
        updates: dict[tuple[str, str], Document] = {}

        def update_of(collection: str, key: str, bucket: int) -> Document:
            head = updates.setdefault((collection, bucket_id(0, key)), {}).setdefault("$max", {})
            head["last"] = max(head.get("last", 0), bucket)
            return updates.setdefault((collection, bucket_id(bucket, key)), {})

        for (holder, bucket), entries in self.portfolio_entries.items():
            update = update_of(PORTFOLIOS, holder, bucket)
            update.setdefault("$set", {}).update(
                {f"entries.{key}": entry for key, entry in entries.items()}
            )
        for (key, bucket), ids in self.postings.items():
            update = update_of(POSTINGS, key, bucket)
            update["$addToSet"] = {"ids": {"$each": ids}}
        for (collection, key, bucket), added in self.new_in_bucket.items():
            update_of(collection, key, bucket).setdefault("$inc", {})["count"] = added
        return [(collection, _id, update) for (collection, _id), update in updates.items()]
