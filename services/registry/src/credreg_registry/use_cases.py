"""What the registry's routes ask: a credential, its verification, a portfolio page, the view's
counts. Each answer takes one to three lookups by ``_id`` (see ``layout``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from credreg_registry.domain import (
    ISSUED_FLAG,
    PORTFOLIO_PAGE,
    VOUCH_PAGES,
    Caller,
    CredentialNotFound,
    CredentialSummary,
    CredentialView,
    HolderUnknownToInstitution,
    InvalidCursor,
    NotYourPortfolio,
    PortfolioEntry,
    PortfolioPage,
    Stats,
    Verification,
    competency_keys,
    credential_view,
    verification,
)
from credreg_registry.holder_layout import SEARCH_CONSENTS
from credreg_registry.layout import (
    BODIES,
    BOOKKEEPING,
    COUNTERS,
    CREDENTIALS,
    LINES,
    LIST_HEADS,
    LISTS,
    PLACEHOLDERS,
    chunk_id,
    portfolio_list,
    status_counter,
)
from credreg_registry.ports import HolderStore, VerificationMaterialSource, ViewDocuments
from credreg_shared.credentials.report import Check, Outcome, VerificationReport
from credreg_shared.credentials.verification import VerificationMaterial, verify_credential
from credreg_shared.events.lifecycle import ACTIVE, STATUSES
from credreg_shared.storage.ports import Document

FIRST_CHUNKS = 4
"""Chunks a page reads in its first round trip."""
PORTFOLIO_EXAMINE = 500
"""Credentials a filtered or newest-first portfolio page looks at, at most."""
LAST_CHUNK_PROBE = 16
"""Chunks read in one round trip from a list's head on, to find its last chunk."""


class RegistryQueries:
    """Read-only questions answered from the view."""

    def __init__(
        self,
        *,
        documents: ViewDocuments,
        holders: HolderStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.documents = documents
        self.holders = holders
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
        self,
        holder_id: str,
        caller: Caller,
        cursor: str | None = None,
        filters: PortfolioFilters | None = None,
        *,
        newest_first: bool = False,
        limit: int = PORTFOLIO_PAGE,
    ) -> PortfolioPage:
        """A page of a holder's issued credentials, in the order the registry recorded them
        (oldest first, or newest first): all of them for the holder itself, an institution's
        own for that institution (a page may then hold fewer than it could; follow
        `next_cursor`). With filters, a page looks at `PORTFOLIO_EXAMINE` credentials at most."""
        if caller.holder_id is not None and caller.holder_id != holder_id:
            raise NotYourPortfolio("a holder token reads its own holder's portfolio only")
        filters = filters or PortfolioFilters()
        list_id = portfolio_list(holder_id)
        if filters.given or newest_first:
            lines, next_cursor = await self._filtered(
                list_id, cursor, filters, newest_first=newest_first, limit=limit
            )
        else:
            lines, next_cursor = await self._page(list_id, cursor, limit)
        if caller.holder_id is None:
            lines = [line for line in lines if line.issuer_id == caller.institution]
        consents = await self._consents([line.id for line in lines])
        entries = [
            PortfolioEntry(**line.model_dump(), searchable=consents.get(line.id, False))
            for line in lines
        ]
        return PortfolioPage(holder_id=holder_id, credentials=entries, next_cursor=next_cursor)

    async def _consents(self, ids: list[str]) -> dict[str, bool]:
        if self.holders is None or not ids:
            return {}
        found = await self.holders.find_many(SEARCH_CONSENTS, ids)
        return {d["_id"]: bool(d.get("searchable")) for d in found}

    async def _filtered(
        self,
        list_id: str,
        cursor: str | None,
        filters: PortfolioFilters,
        *,
        newest_first: bool,
        limit: int,
    ) -> tuple[list[CredentialSummary], str | None]:
        """A page of the lines that pass `filters`, walking the list either way, looking at
        `PORTFOLIO_EXAMINE` credentials at most."""
        walk = _ListWalk(self.documents, list_id, newest_first=newest_first)
        await walk.start(cursor)
        kept: list[CredentialSummary] = []
        examined = 0
        while len(kept) < limit and examined < PORTFOLIO_EXAMINE and not walk.ended:
            want = (
                limit - len(kept) if not filters.given else min(PORTFOLIO_EXAMINE - examined, 200)
            )
            batch = await walk.take(want)
            ids = [i for i, _ in batch]
            found = {d["_id"]: d for d in await self.documents.find_many(LINES, ids)}
            competencies: dict[str, set[str]] = {}
            if filters.competency is not None:
                states = await self.documents.find_many(CREDENTIALS, ids, without=BOOKKEEPING)
                competencies = {
                    d["_id"]: {
                        k.casefold() for k in competency_keys(d["achievement"]["competencies"])
                    }
                    for d in states
                    if "achievement" in d
                }
            for credential_id, position in batch:
                examined += 1
                walk.position = position
                if credential_id not in found:
                    continue
                line = CredentialSummary.model_validate(
                    {**found[credential_id], "id": credential_id}
                )
                if filters.matches(line, competencies.get(credential_id, set())):
                    kept.append(line)
                    if len(kept) == limit:
                        break
        return kept, walk.cursor()

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


@dataclass(frozen=True)
class PortfolioFilters:
    """What a holder narrows its portfolio to (each set field narrows it)."""

    status: str | None = None
    issuer: str | None = None
    achievement_type: str | None = None
    competency: str | None = None
    expires_soon: bool = False

    @property
    def given(self) -> bool:
        """Whether any filter is set."""
        return any((self.status, self.issuer, self.achievement_type, self.competency)) or (
            self.expires_soon
        )

    def matches(self, line: CredentialSummary, competencies: set[str]) -> bool:
        """Whether a page line passes every filter (`competencies`: its keys, case-folded)."""
        wanted_type = (self.achievement_type or "").strip().casefold()
        return (
            (self.status is None or line.status == self.status)
            and (self.issuer is None or line.issuer_id == self.issuer.strip())
            and (not wanted_type or (line.achievement_type or "").casefold() == wanted_type)
            and (self.competency is None or self.competency.strip().casefold() in competencies)
            and (not self.expires_soon or line.expires_soon is not None)
        )


class _ListWalk:
    """A position in a chunked list, walked oldest first (cursor ``<chunk>.<offset>``: the next
    id is at that offset) or newest first (cursor ``n.<chunk>.<end>``: the next ids are those
    before `end` in that chunk, then the chunks before it). The caller moves `position` past
    the ids it used."""

    def __init__(self, documents: ViewDocuments, list_id: str, *, newest_first: bool) -> None:
        self.documents = documents
        self.list_id = list_id
        self.newest_first = newest_first
        self.position = (0, 0)
        self.ended = False
        """The walk read up to the list's end (`end_position`)."""
        self.end_position: tuple[int, int] | None = None

    async def start(self, cursor: str | None) -> None:
        """Start at `cursor` (`InvalidCursor` for one of another order), or at the end of the
        list that the order starts from."""
        if cursor:
            if len(cursor) > 40:
                raise InvalidCursor(cursor)
            direction, _, rest = cursor.partition(".")
            if self.newest_first != (direction == "n"):
                raise InvalidCursor(cursor)
            self.position = _cursor_numbers(rest if self.newest_first else cursor)
        elif self.newest_first:
            last = await self._last_chunk()
            self.position = last if last is not None else (0, 0)

    async def _last_chunk(self) -> tuple[int, int] | None:
        """(number, length) of the list's last chunk (looked for from its head on), or None."""
        head = await self.documents.find_one(LIST_HEADS, self.list_id)
        start = max(int(head["chunks"]) - 1, 0) if head else 0
        last: tuple[int, int] | None = None
        while True:
            numbers = range(start, start + LAST_CHUNK_PROBE)
            names = [chunk_id(n, self.list_id) for n in numbers]
            found = {d["_id"]: len(d["ids"]) for d in await self.documents.find_many(LISTS, names)}
            for n, name in zip(numbers, names, strict=True):
                if name in found:
                    last = (n, found[name])
            if last is None or last[0] < numbers[-1]:
                return last
            start += LAST_CHUNK_PROBE

    async def take(self, count: int) -> list[tuple[str, tuple[int, int]]]:
        """Up to `count` ids from the position on, each with the position after it."""
        taken = await self._backwards(count) if self.newest_first else await self._forwards(count)
        if self.ended:
            self.end_position = taken[-1][1] if taken else self.position
        return taken

    async def _forwards(self, count: int) -> list[tuple[str, tuple[int, int]]]:
        chunk, offset = self.position
        taken: list[tuple[str, tuple[int, int]]] = []
        window = FIRST_CHUNKS
        while len(taken) < count and not self.ended:
            names = [chunk_id(n, self.list_id) for n in range(chunk, chunk + window)]
            chunks = {d["_id"]: d["ids"] for d in await self.documents.find_many(LISTS, names)}
            for n, name in zip(range(chunk, chunk + window), names, strict=True):
                if name not in chunks:
                    self.ended = True
                    break
                ids = chunks[name]
                while offset < len(ids) and len(taken) < count:
                    offset += 1
                    taken.append((ids[offset - 1], (n, offset)))
                if offset < len(ids):
                    break
                chunk, offset = n + 1, 0
            window = max(count - len(taken), 1)
        return taken

    async def _backwards(self, count: int) -> list[tuple[str, tuple[int, int]]]:
        chunk, end = self.position
        whole = False
        taken: list[tuple[str, tuple[int, int]]] = []
        window = FIRST_CHUNKS
        while len(taken) < count and not self.ended:
            if end == 0 and not whole:
                if chunk == 0:
                    self.ended = True
                    break
                chunk, whole = chunk - 1, True
            numbers = [n for n in range(chunk, chunk - window, -1) if n >= 0]
            names = [chunk_id(n, self.list_id) for n in numbers]
            chunks = {d["_id"]: d["ids"] for d in await self.documents.find_many(LISTS, names)}
            for n, name in zip(numbers, names, strict=True):
                ids = chunks.get(name, [])
                e = len(ids) if whole or n != chunk else min(end, len(ids))
                while e > 0 and len(taken) < count:
                    e -= 1
                    taken.append((ids[e], (n, e)))
                chunk, end, whole = n, e, False
                if e > 0:
                    break
                if n == 0:
                    self.ended = True
                    break
                chunk, whole = n - 1, True
            window = max(count - len(taken), 1)
        return taken

    def cursor(self) -> str | None:
        """The cursor of the position, or None once the walk used every id to the list's end."""
        if self.ended and self.position == self.end_position:
            return None
        chunk, offset = self.position
        if self.newest_first:
            return None if (chunk, offset) == (0, 0) else f"n.{chunk}.{offset}"
        return f"{chunk}.{offset}"


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
