"""Private keys encrypted at rest with AES-256-GCM under rotatable key-encryption keys (KEKs)."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

from .keys import Ed25519KeyPair

KEK_ENVIRONMENT_VARIABLE = "CREDREG_KEY_ENCRYPTION_KEYS"
_NONCE_BYTES = 12


class KeyEncryptionError(ValueError):
    """Raised for a missing or malformed KEK, or a key that cannot be decrypted."""


class EncryptedPrivateKey(BaseModel):
    """An Ed25519 seed sealed with AES-256-GCM; safe to store in a database."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str
    kek_id: str
    nonce: str
    ciphertext: str


def _b64decode(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as error:
        raise KeyEncryptionError(f"invalid base64url: {error}") from None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _associated_data(key_id: str, kek_id: str) -> bytes:
    # Binding both ids stops a sealed key being swapped into another key's record.
    return f"credreg-signing-key\x00{key_id}\x00{kek_id}".encode()


class KeyEncryptionKeyring:
    """The KEKs an instance knows: the first encrypts, all decrypt (so KEKs can be rotated)."""

    def __init__(self, keys: Mapping[str, bytes], *, active_kek_id: str) -> None:
        if active_kek_id not in keys:
            raise KeyEncryptionError(f"active KEK {active_kek_id!r} is not in the keyring")
        for kek_id, key in keys.items():
            if len(key) != 32:
                raise KeyEncryptionError(f"KEK {kek_id!r} must be 32 bytes (AES-256)")
        self._keys = dict(keys)
        self.active_kek_id = active_kek_id

    @classmethod
    def from_string(cls, value: str) -> KeyEncryptionKeyring:
        """Parse `id:base64url,id:base64url,…`; the first entry is the active KEK."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in value.split(",")):
            kek_id, separator, encoded = item.partition(":")
            if not separator or not kek_id or not encoded:
                raise KeyEncryptionError("expected 'id:base64url' entries separated by commas")
            if kek_id in keys:
                raise KeyEncryptionError(f"KEK id {kek_id!r} appears twice")
            keys[kek_id] = _b64decode(encoded)
        if not keys:
            raise KeyEncryptionError("no KEK given")
        return cls(keys, active_kek_id=next(iter(keys)))

    @classmethod
    def from_environment(cls, variable: str = KEK_ENVIRONMENT_VARIABLE) -> KeyEncryptionKeyring:
        """Read the keyring from an environment variable (see `from_string`)."""
        value = os.environ.get(variable, "")
        if not value:
            raise KeyEncryptionError(f"{variable} is not set")
        return cls.from_string(value)

    @staticmethod
    def generate_kek() -> str:
        """Return a new random KEK, base64url-encoded, for the environment variable."""
        return _b64encode(AESGCM.generate_key(bit_length=256))

    def encrypt(self, key_id: str, key_pair: Ed25519KeyPair) -> EncryptedPrivateKey:
        """Seal a signing key under the active KEK."""
        nonce = os.urandom(_NONCE_BYTES)
        aead = AESGCM(self._keys[self.active_kek_id])
        ciphertext = aead.encrypt(
            nonce, key_pair.seed, _associated_data(key_id, self.active_kek_id)
        )
        return EncryptedPrivateKey(
            key_id=key_id,
            kek_id=self.active_kek_id,
            nonce=_b64encode(nonce),
            ciphertext=_b64encode(ciphertext),
        )

    def decrypt(self, sealed: EncryptedPrivateKey) -> Ed25519KeyPair:
        """Open a sealed signing key with the KEK it names."""
        key = self._keys.get(sealed.kek_id)
        if key is None:
            raise KeyEncryptionError(f"unknown KEK {sealed.kek_id!r}")
        try:
            seed = AESGCM(key).decrypt(
                _b64decode(sealed.nonce),
                _b64decode(sealed.ciphertext),
                _associated_data(sealed.key_id, sealed.kek_id),
            )
        except InvalidTag:
            raise KeyEncryptionError(f"key {sealed.key_id!r} failed authentication") from None
        return Ed25519KeyPair.from_seed(seed)

    def rewrap(self, sealed: EncryptedPrivateKey) -> EncryptedPrivateKey:
        """Re-encrypt a sealed key under the active KEK (KEK rotation)."""
        return self.encrypt(sealed.key_id, self.decrypt(sealed))

    def seal_text(self, label: str, text: str) -> str:
        """Seal a short secret (a webhook secret, say) under the active KEK, bound to `label`
        (its record's id): ``<kek id>.<nonce>.<ciphertext>``, base64url."""
        nonce = os.urandom(_NONCE_BYTES)
        aead = AESGCM(self._keys[self.active_kek_id])
        sealed = aead.encrypt(nonce, text.encode(), _text_data(label, self.active_kek_id))
        return ".".join((self.active_kek_id, _b64encode(nonce), _b64encode(sealed)))

    def open_text(self, label: str, sealed: str) -> str:
        """Open what `seal_text` sealed for `label`."""
        kek_id, _, rest = sealed.partition(".")
        nonce, _, ciphertext = rest.partition(".")
        key = self._keys.get(kek_id)
        if key is None or not nonce or not ciphertext:
            raise KeyEncryptionError(f"not sealed under a known KEK ({kek_id!r})")
        try:
            opened = AESGCM(key).decrypt(
                _b64decode(nonce), _b64decode(ciphertext), _text_data(label, kek_id)
            )
        except InvalidTag:
            raise KeyEncryptionError(f"secret of {label!r} failed authentication") from None
        return opened.decode()


def _text_data(label: str, kek_id: str) -> bytes:
    # Bound to its record: a sealed secret copied into another record does not open there.
    return f"credreg-secret\x00{label}\x00{kek_id}".encode()
