"""Bitstring status lists of the institutions kept here (rules only, no I/O).

Every credential of such an institution carries one ``BitstringStatusListEntry`` (purpose
``revocation``) at an index drawn at random from a list of 131,072 entries, so that an index
tells nothing about when the credential was issued. An index is *claimed* by inserting a
document whose ``_id`` is the (list, index) pair: the unique ``_id`` makes the first claim win
across every issuer replica. A list takes new credentials until half of it is allocated (so a
random draw hits a free index at least every other time); the institution then moves on to its
next list, by compare-and-set.

A revocation adds the index to the ``revoked`` set of its *chunk* of the list, a document per
1,024 indices (one atomic ``$addToSet``, never a read-modify-write of a shared bitstring, which
is how concurrent revocations get lost). One set per list made every revocation rewrite all of
the list's revoked indices: 5 ms each at 1,000 revoked, 27 ms at 10,000, on the local server.
The list credential is built and signed from that set when it is served: deterministic for a
given version (its ``validFrom`` and proof time are the list's last change), so every replica
serves the same bytes under the same ETag.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from credreg_shared.credentials.bitstring import MIN_STATUS_LIST_LENGTH, Bitstring
from credreg_shared.credentials.status_list import build_status_list_credential
from credreg_shared.errors import DomainError

LIST_LENGTH = MIN_STATUS_LIST_LENGTH
"""Entries per list: the spec's minimum (16 KiB), for herd privacy."""
REVOKED_CHUNK = 1024
"""Indices per document of a list's revoked set."""
ROLL_OVER_AT = LIST_LENGTH // 2
"""Allocated entries after which an institution's new credentials go to its next list."""
CLAIM_ATTEMPTS = 64
"""Random draws before giving up on a list (at most half full: 2⁻⁶⁴ odds of all taken)."""
CANDIDATES = 4
"""Indices drawn per credential in one round: the first that nobody holds is claimed (at most
half full, all four are held for one credential in 16)."""
LIST_TTL = timedelta(minutes=5)
"""How long a verifier may cache a list (its ``ttl``, and ``Cache-Control: max-age``)."""


class StatusListNotFound(DomainError):
    """No status list has this id."""


class StatusListFull(RuntimeError):
    """No free index was drawn: the list filled up meanwhile (retry: the next list takes over)."""


class StatusList(BaseModel):
    """One institution's revocation list, as stored (``_id`` is its id)."""

    model_config = ConfigDict(frozen=True)

    id: str
    institution: str
    number: int
    length: int = LIST_LENGTH
    allocated: int = 0
    revoked: list[int] = []
    version: int = 0
    updated_at: datetime

    def to_document(self) -> dict[str, Any]:
        """Its stored form."""
        return {"_id": self.id, **self.model_dump(mode="python", exclude={"id"})}


def revoked_chunk_id(status_list_id: str, index: int) -> str:
    """The ``_id`` of the document that holds `index` if it is revoked."""
    return f"{status_list_id}/{index // REVOKED_CHUNK}"


def revoked_chunk_ids(status_list_id: str, length: int) -> list[str]:
    """Every chunk ``_id`` of a list of `length` entries."""
    return [revoked_chunk_id(status_list_id, start) for start in range(0, length, REVOKED_CHUNK)]


def list_id(slug: str, number: int) -> str:
    """The id of an institution's `number`-th list."""
    return f"{slug}-{number}"


def list_url(base_url: str, status_list_id: str) -> str:
    """Where a list credential is served (the URL in every entry that points at it)."""
    return f"{base_url.rstrip('/')}/v1/status-lists/{status_list_id}"


def unsigned_list_credential(status_list: StatusList, *, url: str) -> dict[str, Any]:
    """The `BitstringStatusListCredential` of a list as it stands."""
    bits = Bitstring(status_list.length)
    for index in status_list.revoked:
        bits.set(index, True)
    return build_status_list_credential(
        url=url,
        issuer=status_list.institution,
        purpose="revocation",
        bitstring=bits,
        valid_from=status_list.updated_at,
        ttl=LIST_TTL,
    )
