"""Institutions: who may issue, with which signing keys and API keys (rules only, no I/O).

An institution is a DID. Hosted institutions get ``did:web:<host>:institutions:<slug>``, whose
document the issuer serves at ``/institutions/<slug>/did.json``; an institution with its own
domain names its ``did:web`` and hosts the document that ``/v1/institutions/{id}/did.json``
answers. Signing keys are Ed25519, generated here and stored sealed under the key-encryption
keyring; a rotation adds a key and makes it the active one, and every earlier public key stays
in the DID document so that earlier credentials keep verifying. API keys are shown once, stored
as their SHA-256 digest, scoped, and revocable.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from credreg_shared.credentials.dids import did_web_document, did_web_for
from credreg_shared.credentials.key_encryption import EncryptedPrivateKey
from credreg_shared.credentials.keys import decode_public_multikey
from credreg_shared.errors import DomainError
from credreg_shared.settings import INSTITUTION_DID

Scope = Literal["issue", "revoke", "read"]
SCOPES: tuple[Scope, ...] = ("issue", "revoke", "read")
Cryptosuite = Literal["eddsa-rdfc-2022", "eddsa-jcs-2022"]
SLUG_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
"""A slug: in its did:web, and its Kafka request topic's name (no dots: never a ``.dlq``)."""
Slug = Annotated[str, Field(pattern=rf"^{SLUG_PATTERN}$")]
API_KEY_PREFIX = "crk_"
"""Marks credreg API keys, so that secret scanners can recognise a leaked one."""


class InstitutionExists(DomainError):
    """An institution with this id or slug exists already."""


class InstitutionNotFound(DomainError):
    """No institution has this id (or slug)."""


class ApiKeyNotFound(DomainError):
    """The institution has no API key with this id."""


class KeyRotationRaced(DomainError):
    """Another rotation of the same institution's key won; try again."""


class NoKeyEncryptionKey(DomainError):
    """No key-encryption keyring is configured, so no signing key can be kept or opened."""


class KeyringUnusable(RuntimeError):
    """The key-encryption keyring cannot open the signing keys kept here: refuse to start."""


class NewInstitution(BaseModel):
    """What an admin posts to create an institution."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    slug: Slug
    name: str = Field(min_length=1, max_length=500)
    did: str | None = Field(
        default=None,
        description="Its own `did:web` when it hosts its DID document itself; else hosted here.",
    )
    cryptosuite: Cryptosuite = "eddsa-rdfc-2022"

    @field_validator("did")
    @classmethod
    def _did_web(cls, value: str | None) -> str | None:
        if value is not None and not (
            value.startswith("did:web:") and INSTITUTION_DID.fullmatch(value)
        ):
            raise ValueError("an institution's own DID must be a did:web")
        return value


class NewApiKey(BaseModel):
    """What an admin posts to create an API key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scopes: list[Scope] = Field(default=["issue", "revoke", "read"], min_length=1)
    label: str | None = Field(default=None, max_length=200)


class SigningKey(BaseModel):
    """One signing key: public half in the clear, private half sealed."""

    model_config = ConfigDict(frozen=True)

    id: str
    """The verification method's fragment: ``key-1``, ``key-2``, …"""
    public_multikey: str
    created_at: datetime
    sealed: EncryptedPrivateKey


class Institution(BaseModel):
    """An institution as stored (``_id`` is its DID)."""

    model_config = ConfigDict(frozen=True)

    id: str
    slug: str
    name: str
    hosted: bool
    cryptosuite: Cryptosuite
    keys: list[SigningKey]
    active_key: str
    created_at: datetime
    status_list: str | None = None
    """The list its new credentials get their status entry from (None: its first one)."""

    def signing_key(self) -> SigningKey:
        """The key new credentials are signed with."""
        return next(key for key in self.keys if key.id == self.active_key)

    def verification_method(self, key: SigningKey) -> str:
        """The DID URL of a key's verification method."""
        return f"{self.id}#{key.id}"

    def did_document(self) -> dict[str, Any]:
        """Its DID document: every key it ever had, so that earlier credentials still verify."""
        return did_web_document(
            self.id, {key.id: decode_public_multikey(key.public_multikey) for key in self.keys}
        )

    def to_document(self) -> dict[str, Any]:
        """Its stored form."""
        return {"_id": self.id, **self.model_dump(mode="python", exclude={"id"})}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Institution:
        """Read its stored form."""
        return cls.model_validate({**document, "id": document["_id"]})


class InstitutionView(BaseModel):
    """An institution as the admin API shows it: no private key, sealed or not."""

    id: str
    slug: str
    name: str
    hosted: bool
    cryptosuite: Cryptosuite
    active_key: str
    verification_methods: list[str]
    did_document_url: str
    created_at: datetime


class ApiKey(BaseModel):
    """An API key as stored: only its digest, never the key."""

    model_config = ConfigDict(frozen=True)

    id: str
    institution: str
    digest: str
    scopes: list[Scope]
    label: str | None = None
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyView(BaseModel):
    """An API key without its digest."""

    id: str
    institution: str
    scopes: list[str]
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyView:
        """The view of a stored key."""
        return cls.model_validate(key.model_dump(exclude={"digest"}))


class CreatedApiKey(BaseModel):
    """A new API key: the only answer that ever shows the key itself."""

    id: str
    institution: str
    key: str
    scopes: list[Scope]
    label: str | None = None
    created_at: datetime


def hosted_did(host: str, slug: str) -> str:
    """The `did:web` of an institution hosted by this issuer."""
    return did_web_for(host, "institutions", slug)


def api_key_digest(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A new random API key (256 bits)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def next_key_id(keys: Sequence[SigningKey]) -> str:
    """The fragment of the next signing key."""
    numbers = [int(m.group(1)) for k in keys if (m := re.fullmatch(r"key-(\d+)", k.id))]
    return f"key-{max(numbers, default=0) + 1}"


def sealed_key_id(institution: str, key_id: str) -> str:
    """What the sealed key is bound to: its verification method (unique across institutions)."""
    return f"{institution}#{key_id}"
