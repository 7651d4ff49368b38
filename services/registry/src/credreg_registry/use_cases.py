"""What the registry's routes ask: a credential, its verification, a portfolio page, a search page,
the view's counts. Each answer is one or two lookups by ``_id`` (see ``layout``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from credreg_registry.domain import (
    ISSUED_FLAG,
    SEARCH_PAGE_DEFAULT,
    CredentialNotFound,
    CredentialSummary,
    CredentialView,
    InvalidCursor,
    PortfolioPage,
    SearchNeedsFilter,
    SearchPage,
    Stats,
    Verification,
    credential_view,
    summary,
    verification,
)
from credreg_registry.layout import (
    BOOKKEEPING,
    COUNTERS,
    CREDENTIALS,
    PLACEHOLDERS,
    PORTFOLIOS,
    POSTINGS,
    bucket_id,
    status_counter,
)
from credreg_registry.ports import ViewDocuments
from credreg_shared.events.lifecycle import STATUSES
from credreg_shared.storage.ports import Document

# A search result never carries the credential itself, nor who holds it.
_SUMMARY_ONLY = (*BOOKKEEPING, "credential", "holder_id")


class RegistryQueries:
    """Read-only questions answered from the view."""

    def __init__(
        self, *, documents: ViewDocuments, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.documents = documents
        self.clock = clock or (lambda: datetime.now(UTC))

    async def credential(self, credential_id: str) -> CredentialView:
        """One issued credential; `CredentialNotFound` for an unknown id or a placeholder."""
        return credential_view(await self._issued(credential_id, without=BOOKKEEPING))

    async def verification(self, credential_id: str) -> Verification:
        """Whether a credential is in force now; `CredentialNotFound` as for `credential`."""
        found = await self._issued(credential_id, without=(*BOOKKEEPING, "credential"))
        return verification(found, self.clock())

    async def portfolio(self, holder_id: str, cursor: str | None = None) -> PortfolioPage:
        """One page of a holder's issued credentials (an unknown holder has one empty page)."""
        page = _cursor_numbers(cursor, parts=1)[0] if cursor else 0
        head, bucket = await self._head_and_bucket(PORTFOLIOS, holder_id, page)
        entries = sorted(
            (
                CredentialSummary.model_validate(e)
                for e in (bucket or {}).get("entries", {}).values()
            ),
            key=lambda s: (s.valid_from, s.id),
        )
        last = (head or {}).get("last", 0)
        return PortfolioPage(
            holder_id=holder_id,
            credentials=entries,
            next_cursor=str(page + 1) if page < last else None,
        )

    async def search(
        self, competency: str | None, cursor: str | None = None, limit: int = SEARCH_PAGE_DEFAULT
    ) -> SearchPage:
        """Issued credentials that certify a competency (its framework URL or code), a page."""
        key = (competency or "").strip()
        if not key:
            raise SearchNeedsFilter
        page, start = _cursor_numbers(cursor, parts=2) if cursor else (0, 0)
        head, bucket = await self._head_and_bucket(POSTINGS, key, page)
        ids: list[str] = (bucket or {}).get("ids", [])[start : start + limit]
        found = {
            d["_id"]: d
            for d in await self.documents.find_many(CREDENTIALS, ids, without=_SUMMARY_ONLY)
            if d.get(ISSUED_FLAG)
        }
        if start + limit < len((bucket or {}).get("ids", [])):
            next_cursor: str | None = f"{page}.{start + limit}"
        elif page < (head or {}).get("last", 0):
            next_cursor = f"{page + 1}.0"
        else:
            next_cursor = None
        return SearchPage(
            competency=key,
            credentials=[summary(found[i]) for i in ids if i in found],
            next_cursor=next_cursor,
        )

    async def stats(self) -> Stats:
        """Counts of issued credentials, in all and by status, and of placeholders."""
        counters = await self.documents.find_all(COUNTERS)
        by_status = {
            status: sum(c.get(status_counter(status), 0) for c in counters) for status in STATUSES
        }
        return Stats(
            credentials=sum(by_status.values()),
            by_status=by_status,
            awaiting_issuance=sum(c.get(PLACEHOLDERS, 0) for c in counters),
        )

    async def _issued(self, credential_id: str, *, without: tuple[str, ...]) -> Document:
        found = await self.documents.find_one(CREDENTIALS, credential_id, without=without)
        if found is None or not found.get(ISSUED_FLAG):
            raise CredentialNotFound(credential_id)
        return found

    async def _head_and_bucket(
        self, collection: str, key: str, page: int
    ) -> tuple[Document | None, Document | None]:
        """Bucket 0 (which knows the last bucket) and bucket `page`, read together."""
        if page == 0:
            head = await self.documents.find_one(collection, bucket_id(0, key))
            return head, head
        head, bucket = await asyncio.gather(
            self.documents.find_one(collection, bucket_id(0, key), without=("entries", "ids")),
            self.documents.find_one(collection, bucket_id(page, key)),
        )
        return head, bucket


def _cursor_numbers(cursor: str, *, parts: int) -> tuple[int, ...]:
    """The numbers of a cursor this registry handed out; `InvalidCursor` for anything else."""
    pieces = cursor.split(".")
    if len(pieces) != parts or not all(p.isdigit() and len(p) <= 9 for p in pieces):
        raise InvalidCursor(cursor)
    return tuple(int(p) for p in pieces)
