"""What the registry's routes ask: a credential, its verification, a portfolio page, a search page,
the view's counts. Each answer takes one to three lookups by ``_id`` (see ``layout``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from credreg_registry.domain import (
    ISSUED_FLAG,
    PORTFOLIO_PAGE,
    SEARCH_PAGE_DEFAULT,
    VOUCH_PAGES,
    Caller,
    CredentialNotFound,
    CredentialSummary,
    CredentialView,
    HolderUnknownToInstitution,
    InvalidCursor,
    NotYourPortfolio,
    PortfolioPage,
    SearchNeedsFilter,
    SearchPage,
    Stats,
    Verification,
    credential_view,
    verification,
)
from credreg_registry.layout import (
    BODIES,
    BOOKKEEPING,
    COUNTERS,
    CREDENTIALS,
    LINES,
    LISTS,
    PLACEHOLDERS,
    chunk_id,
    competency_list,
    portfolio_list,
    status_counter,
)
from credreg_registry.ports import VerificationMaterialSource, ViewDocuments
from credreg_shared.credentials.report import Check, Outcome, VerificationReport
from credreg_shared.credentials.verification import VerificationMaterial, verify_credential
from credreg_shared.events.lifecycle import ACTIVE, STATUSES
from credreg_shared.storage.ports import Document

FIRST_CHUNKS = 4
"""Chunks a page reads in its first round trip."""


class RegistryQueries:
    """Read-only questions answered from the view."""

    def __init__(
        self, *, documents: ViewDocuments, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.documents = documents
        self.clock = clock or (lambda: datetime.now(UTC))

    async def credential(self, credential_id: str, caller: Caller) -> CredentialView:
        """One issued credential, for its holder or its issuer; `CredentialNotFound` for an
        unknown id, a placeholder, or anybody else's (existence never leaks)."""
        state, body = await asyncio.gather(
            self._issued(credential_id, without=BOOKKEEPING),
            self.documents.find_one(BODIES, credential_id),
        )
        if body is None or not caller.owns(state):  # a body is written before its state
            raise CredentialNotFound(credential_id)
        return credential_view(state, body["json"])

    async def verification(self, credential_id: str) -> Verification:
        """Whether a credential is in force now; `CredentialNotFound` as for `credential`."""
        found = await self._issued(credential_id, without=BOOKKEEPING)
        return verification(found, self.clock())

    async def portfolio(
        self, holder_id: str, caller: Caller, cursor: str | None = None
    ) -> PortfolioPage:
        """A page of a holder's issued credentials, in the order the registry recorded them:
        all of them for the holder itself, an institution's own for that institution (a page
        may then hold fewer than it could; follow `next_cursor`)."""
        if caller.holder_id is not None and caller.holder_id != holder_id:
            raise NotYourPortfolio("a holder token reads its own holder's portfolio only")
        lines, next_cursor = await self._page(portfolio_list(holder_id), cursor, PORTFOLIO_PAGE)
        if caller.holder_id is None:
            lines = [line for line in lines if line.issuer_id == caller.institution]
        return PortfolioPage(holder_id=holder_id, credentials=lines, next_cursor=next_cursor)

    async def vouch(self, holder_id: str, institution: str) -> None:
        """Return if `institution` issued a credential to `holder_id` (the first pages of the
        portfolio looked at), else `HolderUnknownToInstitution`."""
        cursor: str | None = None
        for _ in range(VOUCH_PAGES):
            lines, cursor = await self._page(portfolio_list(holder_id), cursor, PORTFOLIO_PAGE)
            if any(line.issuer_id == institution for line in lines):
                return
            if cursor is None:
                break
        raise HolderUnknownToInstitution(
            "this institution issued no credential to this holder; it cannot vouch for it"
        )

    async def search(
        self, competency: str | None, cursor: str | None = None, limit: int = SEARCH_PAGE_DEFAULT
    ) -> SearchPage:
        """Issued credentials that certify a competency (its URL, code or framework), a page."""
        key = (competency or "").strip()
        if not key:
            raise SearchNeedsFilter
        lines, next_cursor = await self._page(competency_list(key), cursor, limit)
        return SearchPage(competency=key, credentials=lines, next_cursor=next_cursor)

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

    async def _page(
        self, list_id: str, cursor: str | None, limit: int
    ) -> tuple[list[CredentialSummary], str | None]:
        """Up to `limit` lines of a list from `cursor` on, with their live status."""
        chunk, offset = _cursor_numbers(cursor) if cursor else (0, 0)
        ids: list[str] = []
        # A few chunks first (most pages need one or two), then as many as the page still
        # lacks lines (a chunk holds at least one id), until the page is full or the list ends.
        window, ended = FIRST_CHUNKS, False
        while len(ids) < limit and not ended:
            wanted = [chunk_id(chunk + n, list_id) for n in range(window)]
            chunks = {d["_id"]: d["ids"] for d in await self.documents.find_many(LISTS, wanted)}
            for name in wanted:
                if name not in chunks:
                    ended = True
                    break
                taken = chunks[name][offset : offset + limit - len(ids)]
                ids += taken
                offset += len(taken)
                if offset < len(chunks[name]):
                    break  # the page is full inside this chunk
                chunk, offset = chunk + 1, 0
            window = limit - len(ids)
        # A full page may be followed by more; the cursor after the last chunk finds none.
        next_cursor = f"{chunk}.{offset}" if len(ids) == limit else None
        found = {d["_id"]: d for d in await self.documents.find_many(LINES, ids)}
        lines = [CredentialSummary.model_validate({**found[i], "id": i}) for i in ids if i in found]
        return lines, next_cursor


def _cursor_numbers(cursor: str) -> tuple[int, int]:
    """The chunk and offset of a cursor this registry handed out; `InvalidCursor` otherwise."""
    pieces = cursor.split(".")
    if len(pieces) != 2 or not all(p.isdigit() and len(p) <= 9 for p in pieces):
        raise InvalidCursor(cursor)
    return int(pieces[0]), int(pieces[1])


@dataclass(frozen=True)
class VerifiedReport:
    """A verification report, and what could not be fetched for it (its checks then failed)."""

    report: VerificationReport
    fetch_problems: list[str]


class VerifyCredentials:
    """An employer's verification of a credential they were handed: every check, named."""

    def __init__(
        self,
        *,
        material: VerificationMaterialSource | None,
        queries: RegistryQueries | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.material = material
        self.queries = queries
        self.clock = clock or (lambda: datetime.now(UTC))

    async def verify(self, credential: Mapping[str, Any]) -> VerifiedReport:
        """The report, after fetching the issuer's did:web document and the status lists, with
        what this registry's view says of the credential (suspension is no status-list bit)."""
        fetched = (
            await self.material.fetch_for(credential)
            if self.material is not None
            else VerificationMaterial()
        )
        report = verify_credential(
            credential,
            status_list_credentials=fetched.status_list_credentials,
            controller_documents=fetched.controller_documents,
            now=self.clock(),
        )
        if self.queries is not None:
            report = report.model_copy(
                update={"checks": [*report.checks, await self._registry_check(credential)]}
            )
        return VerifiedReport(report=report, fetch_problems=fetched.problems)

    async def _registry_check(self, credential: Mapping[str, Any]) -> Check:
        credential_id = credential.get("id")
        if not isinstance(credential_id, str) or self.queries is None:
            return Check(name="registry", outcome=Outcome.NOT_APPLICABLE, reason="no id")
        try:
            known = await self.queries.verification(credential_id)
        except CredentialNotFound:
            return Check(
                name="registry",
                outcome=Outcome.NOT_APPLICABLE,
                reason="this registry has no record of the credential",
            )
        if known.status == ACTIVE:
            return Check(name="registry", outcome=Outcome.PASSED, reason="active in this registry")
        return Check(
            name="registry",
            outcome=Outcome.FAILED,
            reason=f"{known.status} in this registry",
        )
