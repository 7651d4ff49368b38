"""What a holder shares: consent to appear in employer search, and share links; and the employer
search over consenting credentials only. Laid out in ``holder_layout``: every read by ``_id``.

Employer search: each filter names a posting list (``competency:<key>``, ``issuer:<id>``…). The
search reads the heads of the lists its filters name (one ``$in``; with one filter, or a cursor,
together with the driver's first chunks), walks the shortest one (the *driver*, ``postings``)
a run of chunks at a time, passes over the postings whose signature misses another filter, reads
the consents of as many of the other candidates as the page still needs (one ``$in``), keeps the
ones still searchable whose facets match every filter, and reads their live status from the
view's page lines (one ``$in``). A page that examined its bound of postings answers what it
found and a cursor, so no request walks more than `SEARCH_EXAMINE_MAX` postings.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from credreg_registry.domain import (
    ISSUED_FLAG,
    Caller,
    CredentialNotFound,
    CredentialSummary,
    InvalidCursor,
    NotYourPortfolio,
    Response,
    SearchNeedsFilter,
    Verification,
    competency_keys,
    verification,
)
from credreg_registry.holder_layout import (
    MAX_LINKS_PER_HOLDER,
    POSTING_CHUNK,
    SEARCH_CONSENTS,
    SHARE_LINK_OWNERS,
    SHARE_LINKS,
    posting_chunk_id,
)
from credreg_registry.layout import BODIES, CREDENTIALS, LINES
from credreg_registry.layout import BOOKKEEPING as BOOKKEEPING_FIELDS
from credreg_registry.ports import HolderStore, ViewDocuments
from credreg_registry.postings import Candidate, DriverWalk, PostingLists, Wanted, posting
from credreg_shared.errors import DomainError
from credreg_shared.events.lifecycle import STATUSES
from credreg_shared.storage.ports import Document

log = logging.getLogger(__name__)

SEARCH_EXAMINE_MAX = 2000
"""Postings one search request looks at, at most (a page may then hold fewer than its limit)."""
HOURS_LADDER = (0, 1, 2, 5, 10, 20, 40, 80, 160, 320, 640)
"""A credential with hours is posted under each threshold at or below them (``hours:<t>``); a
minimum-hours search walks the list of the highest threshold at or below its minimum."""
MAX_SHARED_CREDENTIALS = 20
MAX_LINK_DAYS = 365
SHARED_PATH = "/shared/"
"""Where a share link opens (the page; ``/v1/shared/<secret>`` answers JSON)."""


class ShareLinkNotFound(DomainError):
    """No such share link: unknown, revoked or expired (one answer for all three)."""

    def __init__(self) -> None:
        super().__init__("no such share link")


class NotTheHolders(DomainError):
    """Only a credential's holder decides what of it is shared (a holder token is needed)."""


class InvalidFilter(DomainError):
    """A search filter with a value that is not one of those allowed."""


class TooManyShareLinks(DomainError):
    """A holder keeps at most `MAX_LINKS_PER_HOLDER` links that are in force."""


class UnknownCredentials(DomainError):
    """A share link names credentials that are not the holder's."""


# --- facets: what a search filters on -----------------------------------------------------------


def normalised(value: str) -> str:
    """How posting keys and filter values compare: trimmed, case-folded."""
    return value.strip().casefold()


def _strings(values: Iterable[Any]) -> list[str]:
    return [v for v in values if isinstance(v, str) and v.strip()]


def _objects(value: Any) -> list[Mapping[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, Mapping)]


def _hours(value: Any) -> float | None:
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return float(found) if found.is_finite() and found >= 0 else None


def facets_of(state: Mapping[str, Any], credential: Mapping[str, Any]) -> Document:
    """What search filters on and shows of a credential: from its view state (issuer, achievement
    type, competencies) and the credential as issued (hours, delivery mode, accreditation,
    industry partners: the OB 3.0 achievement and credreg's extension)."""
    subject = next(iter(_objects(credential.get("credentialSubject"))), {})
    achievement = next(iter(_objects(subject.get("achievement"))), {})
    issuer = credential.get("issuer")
    issuer_name = issuer.get("name") if isinstance(issuer, Mapping) else None
    competencies = state["achievement"].get("competencies", [])
    accreditors = [
        a["accreditor"]
        for a in _objects(achievement.get("accreditation"))
        if isinstance(a.get("accreditor"), Mapping)
    ]
    partners = _objects(achievement.get("industryPartner"))
    delivery = achievement.get("deliveryMode")
    return {
        "issuer": state["issuer_id"],
        "issuer_name": issuer_name if isinstance(issuer_name, str) else None,
        "type": state["achievement"].get("type"),
        "competencies": sorted({normalised(k) for k in competency_keys(competencies)}),
        "competency_names": _strings(c.get("name") for c in competencies),
        "hours": _hours(achievement.get("learningHours")),
        "delivery": delivery if isinstance(delivery, str) else None,
        "accreditors": sorted(
            {normalised(v) for a in accreditors for v in _strings((a.get("id"), a.get("name")))}
        ),
        "accreditor_names": _strings(a.get("name") or a.get("id") for a in accreditors),
        "industry_partners": _strings(p.get("name") or p.get("id") for p in partners),
    }


MARKERS = ("competency-based", "accredited", "industry-aligned")


def markers_of(facets: Mapping[str, Any]) -> list[str]:
    """The quality markers a credential carries."""
    found = {
        "competency-based": bool(facets.get("competencies")),
        "accredited": bool(facets.get("accreditors")),
        "industry-aligned": bool(facets.get("industry_partners")),
    }
    return [marker for marker in MARKERS if found[marker]]


def stored_facets(facets: Mapping[str, Any]) -> str:
    """Facets as a consent document keeps them: one JSON string, which FerretDB reads several
    times faster than the same nested document (a search reads a consent per candidate)."""
    return json.dumps(facets, separators=(",", ":"), sort_keys=True)


def facets_in(consent: Mapping[str, Any]) -> Mapping[str, Any]:
    """A consent document's facets (JSON text; a nested document in consents given before)."""
    found = consent.get("facets")
    if isinstance(found, str):
        loaded = json.loads(found)
        return loaded if isinstance(loaded, dict) else {}
    return found if isinstance(found, Mapping) else {}


def posting_keys(facets: Mapping[str, Any]) -> list[str]:
    """Every posting list a consenting credential is put in."""
    keys = [f"issuer:{normalised(facets['issuer'])}"]
    keys += [f"competency:{key}" for key in facets.get("competencies", [])]
    keys += [f"accredited-by:{key}" for key in facets.get("accreditors", [])]
    keys += [f"marker:{marker}" for marker in markers_of(facets)]
    if facets.get("type"):
        keys.append(f"type:{normalised(facets['type'])}")
    if facets.get("delivery"):
        keys.append(f"delivery:{normalised(facets['delivery'])}")
    hours = facets.get("hours")
    if hours is not None:
        keys += [f"hours:{t}" for t in HOURS_LADDER if t <= hours]
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class SearchFilters:
    """What an employer searches by (each set field narrows the search)."""

    competency: str | None = None
    achievement_type: str | None = None
    issuer: str | None = None
    min_hours: float | None = None
    delivery_mode: str | None = None
    competency_based: bool = False
    accredited: bool = False
    accredited_by: str | None = None
    industry_aligned: bool = False
    status: str | None = None
    """Live status; applied to what the other filters found (not a filter on its own)."""

    def keys(self) -> dict[str, str]:
        """Filter name → the posting list it names; `SearchNeedsFilter` when there is none."""
        found: dict[str, str] = {}
        for name, prefix in (
            ("competency", "competency"),
            ("achievement_type", "type"),
            ("issuer", "issuer"),
            ("delivery_mode", "delivery"),
            ("accredited_by", "accredited-by"),
        ):
            value = getattr(self, name)
            if value is not None and normalised(value):
                found[name] = f"{prefix}:{normalised(value)}"
        if self.min_hours is not None:
            threshold = max(t for t in HOURS_LADDER if t <= self.min_hours)
            found["min_hours"] = f"hours:{threshold}"
        for name, marker in (
            ("competency_based", "competency-based"),
            ("accredited", "accredited"),
            ("industry_aligned", "industry-aligned"),
        ):
            if getattr(self, name):
                found[name] = f"marker:{marker}"
        if not found:
            raise SearchNeedsFilter
        return found

    def shown(self) -> dict[str, str]:
        """The filters as given (for the answer)."""
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in given.items() if v}

    def decided_by_one_list(self) -> bool:
        """Whether a single posting list holds exactly the matches (but withdrawn consents):
        one filter, whose value is its list's key (a minimum of hours on the ladder), and no
        status to check."""
        on_ladder = self.min_hours is None or self.min_hours in HOURS_LADDER
        return len(self.keys()) == 1 and on_ladder and self.status is None

    def matches(self, facets: Mapping[str, Any], wanted: set[str] | None = None) -> bool:
        """Whether a credential's facets pass every filter (its live status aside); `wanted`:
        `keys()`'s values, when the caller has them already."""
        hours = facets.get("hours")
        wanted = wanted if wanted is not None else set(self.keys().values())
        return wanted <= set(posting_keys(facets)) and (
            self.min_hours is None or (hours is not None and hours >= self.min_hours)
        )


class SearchHit(CredentialSummary):
    """A credential an employer found: its summary, live status and quality markers; never its
    holder."""

    issuer_name: str | None = None
    competencies: list[str] = []
    hours: float | None = None
    delivery_mode: str | None = None
    markers: list[str] = Field(
        default=[], description="competency-based, accredited, industry-aligned"
    )
    accredited_by: list[str] = []
    industry_partners: list[str] = []


class EmployerSearchPage(Response):
    """A page of consenting credentials that pass every filter, with their live status."""

    filters: dict[str, str]
    credentials: list[SearchHit]
    examined: int = Field(description="Postings this page looked at (a page may be short)")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for more; absent once the search is done"
    )


def _search_cursor(cursor: str, drivers: Sequence[str]) -> tuple[str, int, int]:
    pieces = cursor.split(".")
    if (
        len(cursor) > 80
        or len(pieces) != 3
        or pieces[0] not in drivers
        or not all(p.isdigit() and len(p) <= 9 for p in pieces[1:])
    ):
        raise InvalidCursor(cursor)
    return pieces[0], int(pieces[1]), int(pieces[2])


class EmployerSearch:
    """Search across institutions, over the credentials whose holders consented."""

    def __init__(self, *, documents: ViewDocuments, holders: HolderStore) -> None:
        self.documents = documents
        self.holders = holders
        self.lists = PostingLists(holders)

    async def search(
        self, filters: SearchFilters, cursor: str | None = None, limit: int = 20
    ) -> EmployerSearchPage:
        """A page of hits: the first `limit` of the driver's list from the cursor on, among
        at most `SEARCH_EXAMINE_MAX` postings."""
        keys = filters.keys()
        if filters.status is not None and filters.status not in STATUSES:
            raise InvalidFilter(f"status must be one of {', '.join(STATUSES)}")
        walk = await self._walk(keys, cursor, limit)
        hits: list[SearchHit] = []
        seen: set[str] = set()
        last_hit: Candidate | None = None
        checked = 0
        exact = filters.decided_by_one_list()
        # Candidates are checked in list order, as many at a time as the page lacks, with some
        # to spare when some may fail the exact check (more once some did): a full page is
        # usually one read of consents and one of lines.
        while len(hits) < limit:
            lacking = limit - len(hits)
            precision = len(hits) / checked if checked else 1.0
            spare = 0 if exact and not checked else lacking // 8 + 1
            want = math.ceil(lacking / max(precision, 0.1)) + spare
            while len(walk.candidates) - checked < want and not walk.exhausted:
                # Postings enough for the candidates lacking, at the rate seen so far.
                rate = len(walk.candidates) / walk.examined if walk.examined else 1.0
                lacking_candidates = want - len(walk.candidates) + checked
                await walk.read(math.ceil(lacking_candidates / max(rate, 0.02)))
            batch = walk.candidates[checked : checked + want]
            if not batch:
                break
            checked += len(batch)
            found = await self._hits(
                [c.credential_id for c in batch if c.credential_id not in seen], filters
            )
            for candidate in batch:
                if candidate.credential_id in found and candidate.credential_id not in seen:
                    seen.add(candidate.credential_id)
                    hits.append(found[candidate.credential_id])
                    if len(hits) == limit:
                        last_hit = candidate
                        break
        if last_hit is not None:  # the page ends at its last hit
            examined, chunk, offset = last_hit.examined, last_hit.chunk, last_hit.after
        else:
            examined, chunk, offset = walk.examined, walk.chunk, walk.offset
        return EmployerSearchPage(
            filters=filters.shown(),
            credentials=hits,
            examined=examined,
            next_cursor=(
                None if await walk.finished_at(chunk, offset) else f"{walk.name}.{chunk}.{offset}"
            ),
        )

    async def _walk(self, keys: dict[str, str], cursor: str | None, limit: int) -> DriverWalk:
        """The walk of the driver's list: the cursor's, else the shortest list (ties: the first
        filter named; a missing one is empty). The lists' sizes are read first; when the driver
        is known already (a cursor, or one filter), its size together with its first chunks, or
        neither when those chunks are full and in memory (the size is read if the walk gets past
        them)."""
        driver: str | None = None
        chunk = offset = 0
        if cursor:
            driver, chunk, offset = _search_cursor(cursor, list(keys))
        elif len(keys) == 1:
            driver = next(iter(keys))
        first_chunks: dict[str, list[str]] = {}
        sized = True
        if driver is None:
            sizes = await self.lists.sizes(list(keys.values()))
            driver = min(keys, key=lambda name: sizes[keys[name]])
        else:
            key = keys[driver]
            reach = (offset + limit + limit // 8) // POSTING_CHUNK  # the first round's postings
            first = [posting_chunk_id(chunk + n, key) for n in range(reach + 1)]
            if (in_memory := self.lists.in_memory(first)) is not None:
                first_chunks, sized = in_memory, False
                sizes = {key: self.lists.at_least(key)}
            else:
                sizes, first_chunks = await asyncio.gather(
                    self.lists.sizes([key]), self.lists.chunks(first)
                )
        walk = DriverWalk(
            self.lists,
            keys[driver],
            name=driver,
            size=sizes[keys[driver]],
            start=(chunk, offset),
            budget=min(SEARCH_EXAMINE_MAX, max(20 * limit, 400)),
            wanted=Wanted.of(keys.values()),
            sized=sized,
        )
        walk.take(first_chunks)
        walk.look()
        return walk

    async def _hits(self, ids: list[str], filters: SearchFilters) -> dict[str, SearchHit]:
        """The hits among `ids`: searchable, every filter matched, with their live lines."""
        if not ids:
            return {}
        consents = {d["_id"]: d for d in await self.holders.find_many(SEARCH_CONSENTS, ids)}
        wanted = set(filters.keys().values())
        facets = {i: facets_in(d) for i, d in consents.items() if d.get("searchable")}
        kept = [i for i in ids if i in facets and filters.matches(facets[i], wanted)]
        lines = {d["_id"]: d for d in await self.documents.find_many(LINES, kept)}
        found: dict[str, SearchHit] = {}
        for credential_id in kept:
            line = lines.get(credential_id)
            if line is None or (filters.status and line.get("status") != filters.status):
                continue
            shown = facets[credential_id]
            found[credential_id] = SearchHit.model_validate(
                {
                    **line,
                    "id": credential_id,
                    "issuer_name": shown.get("issuer_name"),
                    "competencies": shown.get("competency_names", []),
                    "hours": shown.get("hours"),
                    "delivery_mode": shown.get("delivery"),
                    "markers": markers_of(shown),
                    "accredited_by": shown.get("accreditor_names", []),
                    "industry_partners": shown.get("industry_partners", []),
                }
            )
        return found


# --- consent and share links ------------------------------------------------------------------


class Consent(Response):
    """Whether a credential appears in employer search."""

    id: str
    searchable: bool


class ShareLink(Response):
    """One of a holder's share links (its secret is shown once, when it is made)."""

    id: str
    label: str | None = None
    credential_ids: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    in_force: bool = Field(description="Neither revoked nor expired: the link opens")


class CreatedShareLink(ShareLink):
    """A new share link with its secret: give `url` to whoever should see the credentials."""

    url: str = Field(description="The link's page (relative to this registry); shown only now")
    secret: str


class SharedCredential(Response):
    """A shared credential: as issued, with the registry's live verification of it."""

    id: str
    summary: CredentialSummary
    verification: Verification
    credential: dict[str, Any]


class SharedView(Response):
    """What a share link shows: the credentials its holder chose, verified now."""

    label: str | None = None
    expires_at: datetime
    credentials: list[SharedCredential]


def link_id(secret: str) -> str:
    """A link's id: the SHA-256 of its secret (the secret itself is never stored)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _link(document: Mapping[str, Any], now: datetime) -> ShareLink:
    expires_at = _aware(document["expires_at"])
    revoked_at = document.get("revoked_at")
    return ShareLink(
        id=document["_id"],
        label=document.get("label"),
        credential_ids=list(document["credential_ids"]),
        created_at=_aware(document["created_at"]),
        expires_at=expires_at,
        revoked_at=_aware(revoked_at) if revoked_at is not None else None,
        in_force=revoked_at is None and now < expires_at,
    )


class HolderSharing:
    """A holder's consent to search, and share links."""

    def __init__(
        self,
        *,
        documents: ViewDocuments,
        holders: HolderStore,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.documents = documents
        self.holders = holders
        self.clock = clock or (lambda: datetime.now(UTC))

    async def consents(self, credential_ids: Sequence[str]) -> dict[str, bool]:
        """Credential id → whether it is searchable (absent: never consented, so not)."""
        found = await self.holders.find_many(SEARCH_CONSENTS, credential_ids)
        return {d["_id"]: bool(d.get("searchable")) for d in found}

    async def set_searchable(self, credential_id: str, caller: Caller, searchable: bool) -> Consent:
        """The holder's consent to appear in employer search, given or withdrawn."""
        if caller.holder_id is None:
            raise NotTheHolders("only the holder decides whether a credential is searchable")
        state, body = await asyncio.gather(
            self.documents.find_one(CREDENTIALS, credential_id, without=BOOKKEEPING_FIELDS),
            self.documents.find_one(BODIES, credential_id),
        )
        if state is None or body is None or not state.get(ISSUED_FLAG) or not caller.owns(state):
            raise CredentialNotFound(credential_id)
        if not searchable:
            await self.holders.set_consent(
                credential_id,
                {"searchable": False, "holder_id": caller.holder_id},
                claim_posting=False,
            )
            return Consent(id=credential_id, searchable=False)
        facets = facets_of(state, json.loads(body["json"]))
        before = await self.holders.set_consent(
            credential_id,
            {"searchable": True, "holder_id": caller.holder_id, "facets": stored_facets(facets)},
            claim_posting=True,
        )
        if before is None or not before.get("posted"):
            keys = posting_keys(facets)
            entry = posting(credential_id, keys)
            try:
                for key in keys:
                    await self.holders.append_posting(key, entry)
            except BaseException:
                await self.holders.unclaim_posting(credential_id)
                raise
        return Consent(id=credential_id, searchable=True)

    async def create_link(
        self,
        holder_id: str,
        caller: Caller,
        credential_ids: Sequence[str],
        *,
        days: int,
        label: str | None = None,
    ) -> CreatedShareLink:
        """A new share link to the holder's chosen credentials, in force for `days` days."""
        self._own(holder_id, caller)
        wanted = list(dict.fromkeys(credential_ids))
        states = {
            d["_id"]: d
            for d in await self.documents.find_many(CREDENTIALS, wanted, without=BOOKKEEPING_FIELDS)
        }
        foreign = [
            i
            for i in wanted
            if i not in states
            or not states[i].get(ISSUED_FLAG)
            or states[i].get("holder_id") != holder_id
        ]
        if foreign:
            raise UnknownCredentials(f"not credentials of this holder: {', '.join(foreign)}")
        now = self.clock()
        listed = await self.links(holder_id, caller)
        if sum(link.in_force for link in listed) >= MAX_LINKS_PER_HOLDER:
            raise TooManyShareLinks(
                f"at most {MAX_LINKS_PER_HOLDER} share links in force: revoke one first"
            )
        spent = [link.id for link in listed if not link.in_force]
        if spent and len(listed) >= MAX_LINKS_PER_HOLDER:
            await self.holders.remove_from_list(SHARE_LINK_OWNERS, holder_id, "links", spent)
        secret = secrets.token_urlsafe(32)
        document: Document = {
            "_id": link_id(secret),
            "holder_id": holder_id,
            "credential_ids": wanted,
            "label": label,
            "created_at": now,
            "expires_at": now + timedelta(days=days),
            "revoked_at": None,
        }
        await self.holders.insert(SHARE_LINKS, document)
        await self.holders.add_to_list(SHARE_LINK_OWNERS, holder_id, "links", document["_id"])
        return CreatedShareLink(
            **_link(document, now).model_dump(), url=f"{SHARED_PATH}{secret}", secret=secret
        )

    async def links(self, holder_id: str, caller: Caller) -> list[ShareLink]:
        """The holder's share links, newest first."""
        self._own(holder_id, caller)
        owner = await self.holders.find_one(SHARE_LINK_OWNERS, holder_id)
        ids = list((owner or {}).get("links", []))
        found = await self.holders.find_many(SHARE_LINKS, ids)
        now = self.clock()
        listed = [_link(d, now) for d in found if d.get("holder_id") == holder_id]
        return sorted(listed, key=lambda link: link.created_at, reverse=True)

    async def revoke_link(self, holder_id: str, caller: Caller, link: str) -> None:
        """Revoke a share link: it answers 404 from now on."""
        self._own(holder_id, caller)
        found = await self.holders.find_one(SHARE_LINKS, link) if len(link) == 64 else None
        if found is None or found.get("holder_id") != holder_id:
            raise ShareLinkNotFound
        if found.get("revoked_at") is None:
            await self.holders.set_fields(SHARE_LINKS, link, {"revoked_at": self.clock()})

    async def open_link(self, secret: str) -> SharedView:
        """What a share link shows; `ShareLinkNotFound` for unknown, revoked and expired ones."""
        if not 20 <= len(secret) <= 100:
            raise ShareLinkNotFound
        found = await self.holders.find_one(SHARE_LINKS, link_id(secret))
        now = self.clock()
        if found is None or not _link(found, now).in_force:
            raise ShareLinkNotFound
        ids = list(found["credential_ids"])
        states, bodies, lines = await asyncio.gather(
            self.documents.find_many(CREDENTIALS, ids, without=BOOKKEEPING_FIELDS),
            self.documents.find_many(BODIES, ids),
            self.documents.find_many(LINES, ids),
        )
        by_id = {d["_id"]: d for d in states}
        body_of = {d["_id"]: d["json"] for d in bodies}
        line_of = {d["_id"]: d for d in lines}
        shared = [
            SharedCredential(
                id=i,
                summary=CredentialSummary.model_validate({**line_of[i], "id": i}),
                verification=verification(by_id[i], now),
                credential=json.loads(body_of[i]),
            )
            for i in ids
            if i in by_id and i in body_of and i in line_of and by_id[i].get(ISSUED_FLAG)
        ]
        return SharedView(
            label=found.get("label"), expires_at=_aware(found["expires_at"]), credentials=shared
        )

    @staticmethod
    def _own(holder_id: str, caller: Caller) -> None:
        if caller.holder_id is None:
            raise NotTheHolders("share links are the holder's: send its holder token")
        if caller.holder_id != holder_id:
            raise NotYourPortfolio("a holder token manages its own holder's share links only")


class ShareLinkRequest(BaseModel):
    """The credentials to share, and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    credential_ids: list[str] = Field(min_length=1, max_length=MAX_SHARED_CREDENTIALS)
    expires_in_days: int = Field(default=30, ge=1, le=MAX_LINK_DAYS)
    label: str | None = Field(default=None, max_length=100)
