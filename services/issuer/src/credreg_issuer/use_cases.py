"""The issue-one-credential use case: build, publish, answer only after the broker's ack.

With an Idempotency-Key the event is stored before it is published (see `IdempotencyRecord`):
the first request to store it wins, and every request for that key then publishes the stored
event until one of them sees the broker's ack. So a retry after a 503 or a crash issues the
same credential with the same event id (consumers dedupe by it), never a second credential,
and a stored record never answers 201 for an event that no attempt has published.

The one rule that depends on the time ("without `valid_from`, `valid_until` must be after now":
`credreg_shared.issuance.window_errors`) is checked here, against `clock`, and only for a key
with no stored record: a retry whose `valid_until` has passed since its first attempt is still
answered with that attempt's credential, on every path (HTTP, batches, Kafka, pathway awards).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import unquote

from credreg_issuer.cpu import CpuRunner, run_inline
from credreg_issuer.domain import (
    CredentialSigner,
    IdempotencyKeyReused,
    ValidityWindowPassed,
    credential_id_for,
    prepare_issuances,
    prepare_records,
)
from credreg_issuer.institutions import (
    SCOPES,
    ApiKey,
    ApiKeyNotFound,
    CreatedApiKey,
    Institution,
    InstitutionExists,
    InstitutionNotFound,
    KeyringUnusable,
    KeyRotationRaced,
    NewApiKey,
    NewInstitution,
    NoKeyEncryptionKey,
    SigningKey,
    api_key_digest,
    hosted_did,
    new_api_key,
    next_key_id,
    sealed_key_id,
)
from credreg_issuer.overlap import overlapped
from credreg_issuer.ports import (
    IdempotencyRecord,
    IdempotencyRecords,
    InstitutionStore,
    StatusListStore,
)
from credreg_issuer.status_lists import (
    CANDIDATES,
    CLAIM_ATTEMPTS,
    LIST_LENGTH,
    ROLL_OVER_AT,
    StatusList,
    StatusListFull,
    StatusListNotFound,
    list_id,
    list_url,
    unsigned_list_credential,
)
from credreg_shared.api_keys import KeptApiKey
from credreg_shared.credentials.key_encryption import KeyEncryptionError, KeyEncryptionKeyring
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.status_list import status_list_entry
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope, KafkaRecord, new_envelope
from credreg_shared.issuance import IssuanceError, IssueCredential, window_errors
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.messaging.ports import EventPublisher

log = logging.getLogger(__name__)

T = TypeVar("T")

ISSUE_PIECE = 200
"""Keys per round of `issue_many` (sign, store, publish)."""

ISSUE_AHEAD = 2
"""Pieces of `issue_many` read and signed while the current one is stored and published."""

SIGNING_PIECE = 40
"""Credentials signed per call into the signing processes (~30 ms of eddsa-rdfc-2022)."""

PUBLICATION_POLL_SECONDS = 0.05
"""How often a request waiting for another one's publication of the same key looks again."""


@dataclass(frozen=True)
class PreparedIssuance:
    """Keyed commands of one institution, ready to store and publish: their records stored
    before (a retry, a re-post), the others signed but not stored yet, and the new ones whose
    validity window has passed (nothing signed or stored: why)."""

    institution: str
    commands: Mapping[str, IssueCredential]
    existing: dict[str, IdempotencyRecord]
    signed: list[IdempotencyRecord]
    refused: dict[str, list[IssuanceError]] = field(default_factory=dict)


@dataclass(frozen=True)
class Issued:
    """What became of keyed commands: the stored record of each key issued (now or by an
    earlier request), the keys first used for another command, and the keys refused."""

    records: dict[str, IdempotencyRecord]
    reused: set[str]
    refused: dict[str, list[IssuanceError]]


class IssueCredentials:
    """Issues credentials for authenticated institutions."""

    def __init__(
        self,
        *,
        publisher: EventPublisher,
        records: IdempotencyRecords,
        signer: CredentialSigner,
        topic: str,
        source: str,
        institutions: ManageInstitutions | None = None,
        status_lists: ManageStatusLists | None = None,
        publication_lease: timedelta = timedelta(seconds=15),
        run_cpu: CpuRunner | None = None,
        id_secret: bytes | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        """The issuance time of new credentials: their validity-window check and `validFrom`."""
        self.id_secret = id_secret
        """Keys the derivation of credential ids from Idempotency-Keys (unguessable ids)."""
        self.lease = publication_lease
        """How long one request may publish a key's event before another may take over."""
        self.run_cpu: CpuRunner = run_cpu or run_inline
        self.publisher = publisher
        self.records = records
        self.signer = signer
        # Institutions kept in the database sign with their own active key, and their
        # credentials carry a revocation entry in one of their status lists.
        self.institutions = institutions
        self.status_lists = status_lists
        self.topic = topic
        self.source = source

    async def handle(
        self, command: IssueCredential, *, institution: str, idempotency_key: str | None = None
    ) -> Envelope:
        """The acknowledged `credential.issued` event of the credential the command asks for.

        `ValidityWindowPassed` if a new credential would be expired at once; never for a key
        whose credential was issued before (its retry gets that credential).
        """
        now = self.clock()
        closed = window_errors(command, now=now)
        credential_id = credential_id_for(institution, idempotency_key, secret=self.id_secret)
        if idempotency_key is None:
            if closed:
                raise ValidityWindowPassed(closed)
            (envelope,) = await self._signed(institution, [(command, credential_id)], now)
            await self._publish(envelope)
            return envelope
        if closed:
            # Looked up only when the window has passed: the usual request costs no extra read.
            found = await self._stored(institution, idempotency_key)
            if found is None:
                raise ValidityWindowPassed(closed)
            record = found
        else:
            (envelope,) = await self._signed(institution, [(command, credential_id)], now)
            record = await self._reserve(
                IdempotencyRecord.of(
                    envelope,
                    institution_id=institution,
                    key=idempotency_key,
                    request_digest=command.digest(),
                )
            )
        if not command.is_digested_as(record.request_digest):
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        stored = record.envelope
        if not record.published:
            await self.publish_stored(institution, [record])
        return stored

    async def issue_many(
        self, institution: str, commands: Mapping[str, IssueCredential], *, prefix: str = ""
    ) -> Issued:
        """Issue each key's command at most once, ever (batches, Kafka requests, awards): every
        issued key's stored record, the keys first used for another command, and the new keys
        whose validity window has passed (errors' fields under `prefix`); nothing is issued for
        the last two.

        In pieces of `ISSUE_PIECE`, the next `ISSUE_AHEAD` signed while the current one is
        stored and published.
        """
        keys = list(commands)
        pieces = [keys[start : start + ISSUE_PIECE] for start in range(0, len(keys), ISSUE_PIECE)]
        issued = Issued({}, set(), {})

        async def prepare(piece: list[str]) -> PreparedIssuance:
            wanted = {key: commands[key] for key in piece}
            return await self.prepare_keyed(institution, wanted, prefix=prefix)

        async with aclosing(overlapped(pieces, prepare, self.complete, ahead=ISSUE_AHEAD)) as done:
            async for _piece, part in done:
                issued.records.update(part.records)
                issued.reused.update(part.reused)
                issued.refused.update(part.refused)
        return issued

    async def prepare_keyed(
        self, institution: str, commands: Mapping[str, IssueCredential], *, prefix: str = ""
    ) -> PreparedIssuance:
        """The first half of `issue_many`: the records stored before, the others signed, and
        the new ones refused because their validity window has passed (checked only now,
        after the lookup: a key issued before is answered with its credential)."""
        existing = await self.records.get_many(institution, list(commands))
        now = self.clock()
        fresh: list[tuple[str, IssueCredential]] = []
        refused: dict[str, list[IssuanceError]] = {}
        for key, command in commands.items():
            if key in existing:
                continue
            closed = window_errors(command, now=now, prefix=prefix)
            if closed:
                refused[key] = closed
            else:
                fresh.append((key, command))
        signed = await self.prepare_many(institution, fresh, now) if fresh else []
        return PreparedIssuance(institution, commands, existing, signed, refused)

    async def unissuable(
        self,
        institution: str,
        commands: Mapping[str, IssueCredential],
        *,
        prefix: str = "",
    ) -> dict[str, list[IssuanceError]]:
        """The keys whose validity window has passed and that issued nothing before (one read,
        only when some window has passed): what `issue_many` would refuse, known in advance."""
        now = self.clock()
        closed = {key: window_errors(c, now=now, prefix=prefix) for key, c in commands.items()}
        closed = {key: errors for key, errors in closed.items() if errors}
        if not closed:
            return {}
        existing = await self.records.get_many(institution, list(closed))
        return {key: errors for key, errors in closed.items() if key not in existing}

    async def complete(self, prepared: PreparedIssuance) -> Issued:
        """The second half of `issue_many`: store the signed records, publish what is not."""
        records = dict(prepared.existing)
        held: set[str] = set()
        if prepared.signed:
            # Stored already leased to this caller: no claim round trip for new records.
            stored, held = await self.records.reserve_many(
                prepared.signed, lease_until=datetime.now(UTC) + self.lease
            )
            records.update(stored)
        reused = {
            key
            for key, record in records.items()
            # A record this call stored was made from this very command.
            if key not in held and not prepared.commands[key].is_digested_as(record.request_digest)
        }
        await self.publish_stored(
            prepared.institution,
            [record for key, record in records.items() if key not in reused],
            held=held,
        )
        return Issued(records, reused, dict(prepared.refused))

    async def prepare_many(
        self,
        institution: str,
        commands: Sequence[tuple[str, IssueCredential]],
        now: datetime | None = None,
    ) -> list[IdempotencyRecord]:
        """Unstored, unpublished records of the signed events for (key, command) pairs."""
        events = await self._signed_records(
            institution,
            [
                (command, credential_id_for(institution, key, secret=self.id_secret))
                for key, command in commands
            ],
            now or self.clock(),
        )
        return [
            IdempotencyRecord(institution, key, command.digest(), event)
            for (key, command), event in zip(commands, events, strict=True)
        ]

    async def _signed(
        self, institution: str, work: Sequence[tuple[IssueCredential, str]], now: datetime
    ) -> list[Envelope]:
        """The `credential.issued` events of (command, credential id) pairs, issued at `now`:
        signed with the institution's key, with status entries, when it is kept here."""
        return await self._in_pieces(prepare_issuances, institution, work, now)

    async def _signed_records(
        self, institution: str, work: Sequence[tuple[IssueCredential, str]], now: datetime
    ) -> list[KafkaRecord]:
        """`_signed`, encoded for the log by the signing process."""
        return await self._in_pieces(prepare_records, institution, work, now)

    async def _in_pieces(
        self,
        build: Callable[..., list[T]],
        institution: str,
        work: Sequence[tuple[IssueCredential, str]],
        now: datetime,
    ) -> list[T]:
        ids = [credential_id for _, credential_id in work]
        kept = await self.institutions.kept(institution) if self.institutions else None
        signer, statuses = self.signer, {}
        if kept is not None and self.institutions is not None:
            signer = self.institutions.signer_of(kept)
            if self.status_lists is not None:
                statuses = await self.status_lists.entries_for(kept, ids)
        prepared = [(command, c, statuses.get(c)) for command, c in work]
        # Signing is CPU work: off the event loop when a process pool runs it; in pieces, so
        # that a single request's signing waits behind one piece at most, not a whole chunk.
        built: list[T] = []
        for start in range(0, len(prepared), SIGNING_PIECE):
            piece = prepared[start : start + SIGNING_PIECE]
            built += await self.run_cpu(build, piece, institution, self.source, signer, now)
        return built

    async def publish_stored(
        self,
        institution: str,
        records: Sequence[IdempotencyRecord],
        *,
        held: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Publish stored records not yet published, one caller at a time per key (so the log
        gets one record, not one per retry): those whose lease it `held` already, those it gets
        in one claim, then it waits for the others (or for their leases to end, to take over)."""
        waiting = {r.key: r for r in records if not r.published}
        # Long enough to see a lease run out and to take it over then.
        deadline = asyncio.get_running_loop().time() + self.lease.total_seconds() + 1
        while waiting:
            held = {key for key in held if key in waiting} | await self._claim(
                institution, [key for key in waiting if key not in held]
            )
            if held:
                try:
                    await self._publish_stored([waiting[key].event for key in held])
                except PublishUnavailable:
                    for key in held:
                        await self._release(waiting[key])
                    raise
                await self._mark_published(institution, [waiting.pop(key) for key in held])
                held = set()
            if not waiting:
                return
            await asyncio.sleep(PUBLICATION_POLL_SECONDS)
            current = await self.records.get_many(institution, list(waiting))
            for key, record in current.items():
                if record.published:
                    waiting.pop(key, None)
            if waiting and asyncio.get_running_loop().time() > deadline:
                raise PublishUnavailable(
                    "another request with this Idempotency-Key is publishing its credential; "
                    "retry with the same key"
                )

    async def _release(self, record: IdempotencyRecord) -> None:
        try:
            await self.records.release_publication(record.institution_id, record.key)
        except StorageUnavailable:
            # The lease then runs out by itself; a retry waits for it at most once.
            log.warning("could not release the publication lease", exc_info=True)

    async def _claim(self, institution: str, keys: Sequence[str]) -> set[str]:
        """The keys whose publication lease this caller got."""
        now = datetime.now(UTC)
        try:
            return await self.records.claim_publications(
                institution, keys, until=now + self.lease, now=now
            )
        except StorageUnavailable as error:
            reason = str(error) or "the database is unavailable"
            raise StorageUnavailable(f"{reason}; nothing was issued") from error

    async def _publish(self, envelope: Envelope) -> None:
        """Publish an event no Idempotency-Key stands for."""
        await self._acknowledged(self.publisher.publish(envelope, topic=self.topic))

    async def _publish_stored(self, events: list[KafkaRecord]) -> None:
        """Publish stored events byte for byte (not decoded and encoded again)."""
        await self._acknowledged(self.publisher.publish_encoded(events, topic=self.topic))

    async def _acknowledged(self, publishing: Awaitable[None]) -> None:
        try:
            # The publisher bounds the wait for the ack itself.
            await publishing
        except PublishUnavailable as error:
            # A record already handed to the producer may still reach the log later, so the
            # answer promises nothing either way; the same Idempotency-Key resolves it.
            reason = str(error) or "the event log did not acknowledge"
            raise PublishUnavailable(
                f"{reason}; no credential is confirmed as issued: "
                "retry with the same Idempotency-Key to issue at most one"
            ) from error

    async def _stored(self, institution: str, key: str) -> IdempotencyRecord | None:
        try:
            return (await self.records.get_many(institution, [key])).get(key)
        except StorageUnavailable as error:
            reason = str(error) or "the database is unavailable"
            raise StorageUnavailable(f"{reason}; nothing was issued") from error

    async def _reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        try:
            return await self.records.reserve(record)
        except StorageUnavailable as error:
            reason = str(error) or "the database is unavailable"
            raise StorageUnavailable(f"{reason}; nothing was issued") from error

    async def _mark_published(self, institution: str, records: list[IdempotencyRecord]) -> None:
        try:
            await self.records.mark_many_published(institution, [r.key for r in records])
        except StorageUnavailable:
            # The credentials are issued (the broker acked); an unmarked record only makes a
            # retry publish the same event again, which consumers deduplicate.
            log.warning(
                "issued, but could not mark the idempotency records published",
                extra={"credential_ids": [r.event.key.decode() for r in records]},
                exc_info=True,
            )


class ManageInstitutions:
    """The admin's institutions: create, list, rotate keys, API keys; and their DID documents."""

    def __init__(
        self,
        *,
        store: InstitutionStore,
        keyring: KeyEncryptionKeyring | None,
        did_web_host: str,
        publisher: EventPublisher | None = None,
        topic: str = "",
        source: str = "urn:credreg:issuer",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_created: Callable[[Institution], Awaitable[None]] | None = None,
    ) -> None:
        # Run for each new institution (the service creates its issuance-request topic).
        self.on_created = on_created
        self.store = store
        self.keyring = keyring
        self.did_web_host = did_web_host
        self.publisher = publisher
        self.topic = topic
        self.source = source
        self.clock = clock

    async def _announce(self, event: models.ApiKeyEvent) -> None:
        """Publish an API-key event (acknowledged) on the institutions topic."""
        if self.publisher is None:
            return
        try:
            await self.publisher.publish(new_envelope(event, source=self.source), topic=self.topic)
        except PublishUnavailable as error:
            raise PublishUnavailable(
                f"{error or 'the event log did not acknowledge'}; retry: the other services "
                "have not been told"
            ) from error

    def _sealed_key(self, institution: str, key_id: str) -> SigningKey:
        if self.keyring is None:
            raise NoKeyEncryptionKey("CREDREG_KEY_ENCRYPTION_KEY is not set: no key can be kept")
        key_pair = Ed25519KeyPair.generate()
        return SigningKey(
            id=key_id,
            public_multikey=key_pair.public_multikey,
            created_at=self.clock(),
            sealed=self.keyring.encrypt(sealed_key_id(institution, key_id), key_pair),
        )

    async def create(self, wanted: NewInstitution) -> Institution:
        """A new institution with its first signing key."""
        did = wanted.did or hosted_did(self.did_web_host, wanted.slug)
        if any(i.slug == wanted.slug for i in await self.store.all()):
            raise InstitutionExists(f"an institution with slug {wanted.slug!r} exists already")
        key = self._sealed_key(did, "key-1")
        institution = Institution(
            id=did,
            slug=wanted.slug,
            name=wanted.name,
            hosted=wanted.did is None,
            cryptosuite=wanted.cryptosuite,
            keys=[key],
            active_key=key.id,
            created_at=self.clock(),
        )
        await self.store.create(institution)
        if self.on_created is not None:
            await self.on_created(institution)
        return institution

    async def all(self) -> list[Institution]:
        """Every institution."""
        return await self.store.all()

    async def get(self, institution_id: str) -> Institution:
        """One institution; `InstitutionNotFound` if unknown."""
        found = await self.store.get(institution_id)
        if found is None:
            # A did:web with a port (`localhost%3A8001`) reaches a route decoded; match it so.
            found = next(
                (i for i in await self.store.all() if unquote(i.id) == institution_id), None
            )
        if found is None:
            raise InstitutionNotFound(f"no institution {institution_id}")
        return found

    async def by_slug(self, slug: str) -> Institution | None:
        """The institution with this slug (hosted or not), or None."""
        found = await self.store.get(hosted_did(self.did_web_host, slug))
        if found is not None:
            return found
        return next((i for i in await self.store.all() if i.slug == slug), None)

    async def hosted(self, slug: str) -> Institution:
        """The hosted institution with this slug; `InstitutionNotFound` if none."""
        found = await self.store.get(hosted_did(self.did_web_host, slug))
        if found is None or not found.hosted:
            raise InstitutionNotFound(f"no institution hosted here as {slug!r}")
        return found

    async def rotate_key(self, institution_id: str) -> Institution:
        """A new active signing key; the earlier ones stay in the DID document."""
        current = await self.get(institution_id)
        key = self._sealed_key(current.id, next_key_id(current.keys))
        if not await self.store.add_key(current.id, key, replacing=current.active_key):
            raise KeyRotationRaced("another rotation of this institution's key won; try again")
        return await self.get(institution_id)

    async def create_api_key(self, institution_id: str, wanted: NewApiKey) -> CreatedApiKey:
        """A new API key, returned once and stored only as its digest."""
        found = await self.get(institution_id)
        secret = new_api_key()
        key = ApiKey(
            id=uuid.uuid4().hex[:16],
            institution=found.id,  # as stored: the path may have come decoded
            digest=api_key_digest(secret),
            scopes=sorted(set(wanted.scopes), key=SCOPES.index),
            label=wanted.label,
            created_at=self.clock(),
        )
        await self.store.add_api_key(key)
        # The other services that take institution keys (revocation) learn it from the log;
        # until the broker acknowledged, the key is not shown, so nobody can use it.
        await self._announce(
            models.ApiKeyIssued(
                institution_id=key.institution,
                key_id=key.id,
                digest=key.digest,
                scopes=tuple(key.scopes),
            )
        )
        return CreatedApiKey(
            id=key.id,
            institution=key.institution,
            key=secret,
            scopes=key.scopes,
            label=key.label,
            created_at=key.created_at,
        )

    async def api_keys(self, institution_id: str) -> list[ApiKey]:
        """An institution's API keys (digests only), revoked ones included."""
        found = await self.get(institution_id)
        return await self.store.api_keys(found.id)

    async def revoke_api_key(self, institution_id: str, key_id: str) -> None:
        """Revoke one API key; its next request is a 401."""
        found = await self.get(institution_id)
        key = next((k for k in await self.store.api_keys(found.id) if k.id == key_id), None)
        if key is None:
            raise ApiKeyNotFound(f"institution {institution_id} has no API key {key_id}")
        # Told to the other services first: a 204 means every service will refuse the key.
        await self._announce(
            models.ApiKeyRevoked(institution_id=found.id, key_id=key.id, digest=key.digest)
        )
        await self.store.revoke_api_key(found.id, key_id, self.clock())

    async def reseal_keys(self) -> int:
        """Seal every kept signing key under the active key-encryption key (after a KEK
        rotation), so that the earlier KEK can then be retired; how many were resealed."""
        if self.keyring is None:
            raise NoKeyEncryptionKey("CREDREG_KEY_ENCRYPTION_KEY is not set")
        active = self.keyring.active_kek_id
        resealed = 0
        for institution in await self.store.all():
            stale = [k for k in institution.keys if k.sealed.kek_id != active]
            if not stale:
                continue
            keys = [
                k
                if k.sealed.kek_id == active
                else k.model_copy(update={"sealed": self.keyring.rewrap(k.sealed)})
                for k in institution.keys
            ]
            if not await self.store.replace_keys(
                institution.id, keys, active_key=institution.active_key
            ):
                raise KeyRotationRaced(f"{institution.id} rotated its key meanwhile; try again")
            resealed += len(stale)
        return resealed

    async def check_keyring(self) -> None:
        """Refuse to start when the keyring cannot open the keys kept here (missing or wrong)."""
        for institution in await self.store.all():
            if self.keyring is None:
                raise KeyringUnusable(
                    f"CREDREG_KEY_ENCRYPTION_KEY is not set, but {institution.id} has sealed "
                    "signing keys"
                )
            for key in institution.keys:
                try:
                    self._opened(self.keyring, key)
                except KeyEncryptionError as error:
                    raise KeyringUnusable(
                        f"CREDREG_KEY_ENCRYPTION_KEY cannot open {institution.id}#{key.id}: "
                        f"{error} (a wrong key, or a retired one still needed)"
                    ) from None

    async def kept(self, institution_id: str) -> Institution | None:
        """The institution if it is kept here (its keys and status lists are), else None."""
        return await self.store.get(institution_id)

    def signer_of(self, found: Institution) -> CredentialSigner:
        """A signer with a kept institution's active key."""
        if self.keyring is None:
            raise NoKeyEncryptionKey("CREDREG_KEY_ENCRYPTION_KEY is not set: cannot sign")
        key = found.signing_key()
        return CredentialSigner(
            {found.id: self._opened(self.keyring, key)},
            cryptosuite=found.cryptosuite,
            methods={found.id: found.verification_method(key)},
        )

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def _opened(keyring: KeyEncryptionKeyring, key: SigningKey) -> Ed25519KeyPair:
        # Opening a sealed key costs an AES-GCM decryption; a key never changes once stored.
        return keyring.decrypt(key.sealed)

    async def kept_key(self, digest: str) -> KeptApiKey | None:
        """An API key kept here, by its digest: whose, with which scopes, revoked or not."""
        found = await self.store.api_key(digest)
        if found is None:
            return None
        return KeptApiKey(
            institution=found.institution,
            scopes=frozenset(found.scopes),
            revoked=found.revoked_at is not None,
        )


class ManageStatusLists:
    """Status entries for new credentials, the signed list credentials, and revocations."""

    def __init__(
        self,
        *,
        store: StatusListStore,
        institutions: ManageInstitutions,
        base_url: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.institutions = institutions
        self.base_url = base_url
        self.clock = clock
        self._signed: dict[tuple[str, int, str], dict[str, Any]] = {}
        self._ensured: set[str] = set()

    async def entries_for(
        self, institution: Institution, credential_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Each credential's `BitstringStatusListEntry` (the same one on every retry): drawn at
        random indices of the institution's current list, a round trip per step for all."""
        found = await self.store.entries_of(credential_ids)
        for attempt in range(CLAIM_ATTEMPTS):
            missing = [c for c in credential_ids if c not in found]
            if not missing:
                break
            if attempt:
                # Its list may have moved on meanwhile (this batch, or another replica).
                institution = await self.institutions.kept(institution.id) or institution
            current, number = await self._current_list(institution)
            candidates = _drawn(missing)
            # Which are held is read first: a bulk insert that meets a held index is slow (the
            # local FerretDB then inserts the command's documents again one by one), and more
            # rounds are more round trips.
            taken = await self.store.held(
                current, [i for drawn in candidates.values() for i in drawn]
            )
            draws = {
                free: credential_id
                for credential_id, drawn in candidates.items()
                if (free := next((i for i in drawn if i not in taken), None)) is not None
            }
            held = await self.store.claim_many(current, draws) if draws else set()
            won = {c: (current, index) for index, c in draws.items() if index in held}
            recorded = await self.store.record_entries(won) if won else {}
            found.update(recorded)
            allocated = sum(1 for c, entry in recorded.items() if entry == won[c])
            await self._roll_over_when_half_full(institution, current, number, allocated)
        else:
            raise StatusListFull("no free indices drawn for the whole batch; retry")
        return {
            c: status_list_entry(
                status_list_credential=list_url(self.base_url, found[c][0]),
                index=found[c][1],
                purpose="revocation",
            )
            for c in credential_ids
        }

    async def _current_list(self, institution: Institution) -> tuple[str, int]:
        """The institution's list for new credentials (created on first use)."""
        current = institution.status_list or list_id(institution.slug, 1)
        number = int(current.rsplit("-", 1)[1])
        if current not in self._ensured:  # lists are never deleted: once per process
            await self.store.ensure_list(
                StatusList(
                    id=current, institution=institution.id, number=number, updated_at=self.clock()
                )
            )
            self._ensured.add(current)
        return current, number

    async def _roll_over_when_half_full(
        self, institution: Institution, current: str, number: int, allocated: int
    ) -> None:
        if allocated and await self.store.count_allocated(current, allocated) >= ROLL_OVER_AT:
            # Half full: the next credentials go to a new list (whoever moves it first wins).
            following = list_id(institution.slug, number + 1)
            await self.store.move_to_list(institution.id, institution.status_list, following)

    async def signed_list(self, status_list_id: str) -> tuple[dict[str, Any], str]:
        """The signed list credential as it stands, and its ETag."""
        found = await self.store.get_list(status_list_id)
        if found is None:
            raise StatusListNotFound(f"no status list {status_list_id}")
        institution = await self.institutions.get(found.institution)
        cache_key = (found.id, found.version, institution.active_key)
        signed = self._signed.get(cache_key)
        if signed is None:
            unsigned = unsigned_list_credential(found, url=list_url(self.base_url, found.id))
            signed = self.institutions.signer_of(institution).sign(
                unsigned, institution=institution.id, created=found.updated_at
            )
            if len(self._signed) >= 1024:
                self._signed.clear()
            self._signed[cache_key] = signed
        return signed, f'"{found.id}.{found.version}.{institution.active_key}"'

    async def on_revoked(self, envelope: Envelope) -> None:
        """Set the revoked credential's bit (nothing for credentials issued elsewhere)."""
        revoked = envelope.data_as(models.CredentialRevoked)
        found = await self.store.entry_of(revoked.credential_id)
        if found is not None:
            await self.store.revoke(found[0], found[1], envelope.time)

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """Revocations flip bits; every other event passes."""
        registry.register(models.CredentialRevoked, self.on_revoked)
        return registry


def _drawn(credential_ids: Sequence[str]) -> dict[str, list[int]]:
    """`CANDIDATES` random indices for each credential, all distinct."""
    seen: set[int] = set()
    drawn: dict[str, list[int]] = {}
    for credential_id in credential_ids:
        mine = drawn[credential_id] = []
        while len(mine) < CANDIDATES:
            index = secrets.randbelow(LIST_LENGTH)
            if index not in seen:
                seen.add(index)
                mine.append(index)
    return drawn
