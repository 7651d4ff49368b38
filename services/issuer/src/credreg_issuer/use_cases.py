"""The issue-one-credential use case: build, publish, answer only after the broker's ack.

With an Idempotency-Key the event is stored before it is published (see `IdempotencyRecord`):
the first request to store it wins, and every request for that key then publishes the stored
event until one of them sees the broker's ack. So a retry after a 503 or a crash issues the
same credential with the same event id (consumers dedupe by it), never a second credential,
and a stored record never answers 201 for an event that no attempt has published.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import unquote

from credreg_issuer.domain import (
    CredentialSigner,
    IdempotencyKeyReused,
    IssueCredential,
    credential_id_for,
    prepare_issuance,
)
from credreg_issuer.institutions import (
    SCOPES,
    ApiKey,
    ApiKeyNotFound,
    ApiKeyRevoked,
    CreatedApiKey,
    Institution,
    InstitutionExists,
    InstitutionNotFound,
    KeyringUnusable,
    KeyRotationRaced,
    NewApiKey,
    NewInstitution,
    NoKeyEncryptionKey,
    Scope,
    ScopeMissing,
    SigningKey,
    api_key_digest,
    hosted_did,
    new_api_key,
    next_key_id,
    sealed_key_id,
)
from credreg_issuer.ports import IdempotencyRecord, IdempotencyRecords, InstitutionStore
from credreg_shared.credentials.key_encryption import KeyEncryptionError, KeyEncryptionKeyring
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.messaging.ports import EventPublisher

log = logging.getLogger(__name__)


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
    ) -> None:
        self.publisher = publisher
        self.records = records
        self.signer = signer
        # Institutions kept in the database sign with their own active key.
        self.institutions = institutions
        self.topic = topic
        self.source = source

    async def handle(
        self, command: IssueCredential, *, institution: str, idempotency_key: str | None = None
    ) -> Envelope:
        """The acknowledged `credential.issued` event of the credential the command asks for."""
        kept = await self.institutions.signer_for(institution) if self.institutions else None
        envelope = prepare_issuance(
            command,
            institution=institution,
            credential_id=credential_id_for(institution, idempotency_key),
            source=self.source,
            signer=kept or self.signer,
        )
        if idempotency_key is None:
            await self._publish(envelope)
            return envelope
        record = await self._reserve(
            IdempotencyRecord.of(
                envelope,
                institution_id=institution,
                key=idempotency_key,
                request_digest=command.digest(),
            )
        )
        if record.request_digest != command.digest():
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        stored = record.envelope
        if not record.published:
            await self._publish(stored)
            await self._mark_published(record)
        return stored

    async def _publish(self, envelope: Envelope) -> None:
        try:
            # The publisher bounds the wait for the ack itself.
            await self.publisher.publish(envelope, topic=self.topic)
        except PublishUnavailable as error:
            # A record already handed to the producer may still reach the log later, so the
            # answer promises nothing either way; the same Idempotency-Key resolves it.
            reason = str(error) or "the event log did not acknowledge"
            raise PublishUnavailable(
                f"{reason}; no credential is confirmed as issued: "
                "retry with the same Idempotency-Key to issue at most one"
            ) from error

    async def _reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        try:
            return await self.records.reserve(record)
        except StorageUnavailable as error:
            reason = str(error) or "the database is unavailable"
            raise StorageUnavailable(f"{reason}; nothing was issued") from error

    async def _mark_published(self, record: IdempotencyRecord) -> None:
        try:
            await self.records.mark_published(record.institution_id, record.key)
        except StorageUnavailable:
            # The credential is issued (the broker acked); an unmarked record only makes a
            # retry publish the same event again, which consumers deduplicate.
            log.warning(
                "issued, but could not mark the idempotency record published",
                extra={"credential_id": record.event.key.decode()},
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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.did_web_host = did_web_host
        self.clock = clock

    def _sealed_key(self, institution: str, key_id: str) -> SigningKey:
        if self.keyring is None:
            raise NoKeyEncryptionKey("CREDREG_KEY_ENCRYPTION_KEYS is not set: no key can be kept")
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
        await self.get(institution_id)
        secret = new_api_key()
        key = ApiKey(
            id=uuid.uuid4().hex[:16],
            institution=institution_id,
            digest=api_key_digest(secret),
            scopes=sorted(set(wanted.scopes), key=SCOPES.index),
            label=wanted.label,
            created_at=self.clock(),
        )
        await self.store.add_api_key(key)
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
        await self.get(institution_id)
        return await self.store.api_keys(institution_id)

    async def revoke_api_key(self, institution_id: str, key_id: str) -> None:
        """Revoke one API key; its next request is a 401."""
        await self.get(institution_id)
        if not await self.store.revoke_api_key(institution_id, key_id, self.clock()):
            raise ApiKeyNotFound(f"institution {institution_id} has no API key {key_id}")

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

    async def signer_for(self, institution_id: str) -> CredentialSigner | None:
        """A signer with the institution's active key, or None if it is not kept here."""
        found = await self.store.get(institution_id)
        if found is None:
            return None
        if self.keyring is None:
            raise NoKeyEncryptionKey("CREDREG_KEY_ENCRYPTION_KEYS is not set: cannot sign")
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

    async def caller(self, api_key: str, scope: Scope) -> str | None:
        """The institution an API key from the database belongs to, if it has `scope`."""
        found = await self.store.api_key(api_key_digest(api_key))
        if found is None:
            return None
        if found.revoked_at is not None:
            raise ApiKeyRevoked("this API key was revoked")
        if scope not in found.scopes:
            raise ScopeMissing(f"this API key lacks the {scope!r} scope")
        return found.institution
