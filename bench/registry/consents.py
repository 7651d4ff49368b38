"""Search consents at scale for the registry benchmark: in bulk, as the registry writes them.

`PUT /v1/credentials/{id}/searchable` posts a credential under its ~25 posting keys one
`$inc` and one `$addToSet` at a time (~50 single-document writes): fine for a holder, hours for
50,000 credentials on FerretDB. So the benchmark consents most of its share in bulk, with the
registry's own code (`facets_of`, `posting_keys`, `posting`, `stored_facets`, the layout) over
the states and bodies the registry projected, read by `_id` from its view: the same documents,
chunked the same way (`POSTING_CHUNK` slots each, heads = slots handed out), in a handful of
`insert_many`s. The rest goes through the route (vegeta PUTs, timed), after this: their slots
follow the bulk's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pymongo.database import Database

from credreg_registry.adapters.mongo import loaded_credential
from credreg_registry.holder_layout import (
    POSTING_CHUNK,
    SEARCH_CONSENTS,
    SEARCH_HEADS,
    SEARCH_POSTINGS,
    posting_chunk_id,
)
from credreg_registry.layout import BODIES, BOOKKEEPING, CREDENTIALS
from credreg_registry.postings import posting
from credreg_registry.sharing import facets_of, posting_keys, stored_facets

READ_BATCH = 500


def consent_in_bulk(db: Database[dict[str, Any]], credentials: Sequence[tuple[str, str]]) -> int:
    """Make `credentials` ((id, holder) pairs, issued and projected) searchable, as
    `HolderSharing.set_searchable` would one by one; returns the posting entries written.
    Refuses a database whose posting lists are not empty (their heads would be overwritten)."""
    if db[SEARCH_HEADS].find_one() is not None:
        raise RuntimeError("posting lists exist already: bulk consents need empty ones")
    lists: dict[str, list[str]] = {}
    for start in range(0, len(credentials), READ_BATCH):
        batch = dict(credentials[start : start + READ_BATCH])
        wanted = {"_id": {"$in": list(batch)}}
        states = {
            d["_id"]: loaded_credential(d)
            for d in db[CREDENTIALS].find(wanted, dict.fromkeys(BOOKKEEPING, 0))
        }
        bodies = {d["_id"]: d["json"] for d in db[BODIES].find(wanted)}
        consents = []
        for credential_id, holder in batch.items():
            if credential_id not in states or credential_id not in bodies:
                raise RuntimeError(f"{credential_id} is not in the view")
            facets = facets_of(states[credential_id], json.loads(bodies[credential_id]))
            keys = posting_keys(facets)
            entry = posting(credential_id, keys)
            for key in keys:
                lists.setdefault(key, []).append(entry)
            consents.append(
                {
                    "_id": credential_id,
                    "searchable": True,
                    "holder_id": holder,
                    "facets": stored_facets(facets),
                    "posted": True,
                }
            )
        db[SEARCH_CONSENTS].insert_many(consents, ordered=False)
    chunks = [
        {
            "_id": posting_chunk_id(n, key),
            "ids": entries[n * POSTING_CHUNK : (n + 1) * POSTING_CHUNK],
        }
        for key, entries in lists.items()
        for n in range((len(entries) + POSTING_CHUNK - 1) // POSTING_CHUNK)
    ]
    for start in range(0, len(chunks), READ_BATCH):
        db[SEARCH_POSTINGS].insert_many(chunks[start : start + READ_BATCH], ordered=False)
    db[SEARCH_HEADS].insert_many(
        [{"_id": key, "n": len(entries)} for key, entries in lists.items()], ordered=False
    )
    return sum(len(entries) for entries in lists.values())
