"""Reads that several answers share: the issued credentials' state documents, for their lines."""

from __future__ import annotations

from collections.abc import Sequence

from credreg_registry.domain import ISSUED_FLAG
from credreg_registry.layout import BOOKKEEPING, CREDENTIALS
from credreg_registry.ports import ViewDocuments
from credreg_shared.storage.ports import Document


async def issued_states(documents: ViewDocuments, ids: Sequence[str]) -> dict[str, Document]:
    """Credential id → state document, for the issued credentials among `ids` (a placeholder
    awaiting its ``issued`` event is not shown); what `domain.summary` makes a page line of."""
    if not ids:
        return {}
    found = await documents.find_many(CREDENTIALS, ids, without=BOOKKEEPING)
    return {d["_id"]: d for d in found if d.get(ISSUED_FLAG)}
