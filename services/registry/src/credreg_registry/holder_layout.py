"""How the holders' own data is laid out: in the service's base database, outside every view
generation (a rebuild replays the log, and the log does not hold what a holder decided here).
Every read is by ``_id``; nothing needs a secondary index.

* ``search_consents`` (``_id`` = credential id): the holder's consent to appear in employer
  search (``searchable``), the credential's *facets* (issuer, achievement type, competency keys,
  hours, delivery mode, quality markers; one JSON string) that a search filters on in memory,
  and ``posted`` once the credential was put in its posting lists (it stays there: withdrawing
  consent flips ``searchable``, which every search reads before it shows a credential).
* ``search_heads`` (``_id`` = posting key, e.g. ``competency:fa-1``) counts the slots handed out
  in that posting list (``n``, moved by ``$inc``), and ``search_postings`` holds the list in
  chunks of `POSTING_CHUNK` slots (``_id`` = ``"<chunk>:<key>"``, ``ids`` added to with
  ``$addToSet``; each entry a credential id and a signature of its keys, ``postings``). Only
  credentials whose holder consented are ever posted, so a search walks consenting credentials
  only; a list never grows a document past `POSTING_CHUNK` ids.
* ``share_links`` (``_id`` = SHA-256 of the link's secret, hex): the credentials a holder shares,
  until when, and whether it was revoked. The secret itself is never stored.
* ``share_link_owners`` (``_id`` = holder id): the ids of a holder's links (at most
  `MAX_LINKS_PER_HOLDER`), so that the portfolio lists them by ``_id``.
"""

from __future__ import annotations

SEARCH_CONSENTS = "search_consents"
SEARCH_HEADS = "search_heads"
SEARCH_POSTINGS = "search_postings"
SHARE_LINKS = "share_links"
SHARE_LINK_OWNERS = "share_link_owners"

POSTING_CHUNK = 100
"""Slots of a posting list per chunk document."""

MAX_LINKS_PER_HOLDER = 50
"""Share links a holder keeps listed (expired and revoked ones are pruned to make room)."""


def posting_chunk_id(chunk: int, key: str) -> str:
    """The ``_id`` of a chunk of a posting list."""
    return f"{chunk}:{key}"
