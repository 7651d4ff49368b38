"""Ed25519 key pairs and their Multikey (`z6Mk…` / `z3u2…`) encodings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .multibase import MultibaseError, decode_base58btc, encode_base58btc

# Multicodec varint prefixes: ed25519-pub (0xed) and ed25519-priv (0x1300).
ED25519_PUBLIC_PREFIX = b"\xed\x01"
ED25519_SECRET_PREFIX = b"\x80\x26"


class KeyFormatError(ValueError):
    """Raised when a key is not a well-formed Ed25519 Multikey."""


def encode_public_multikey(public_key: bytes) -> str:
    """Encode 32 raw Ed25519 public key bytes as `publicKeyMultibase` (`z6Mk…`)."""
    if len(public_key) != 32:
        raise KeyFormatError("an Ed25519 public key has 32 bytes")
    return encode_base58btc(ED25519_PUBLIC_PREFIX + public_key)


def decode_public_multikey(value: str) -> bytes:
    """Decode `publicKeyMultibase` (`z6Mk…`) to 32 raw Ed25519 public key bytes."""
    try:
        data = decode_base58btc(value)
    except MultibaseError as error:
        raise KeyFormatError(str(error)) from None
    if not data.startswith(ED25519_PUBLIC_PREFIX) or len(data) != 34:
        raise KeyFormatError("not an Ed25519 public Multikey (expected prefix 0xed01, 32 bytes)")
    return data[2:]


def encode_secret_multikey(seed: bytes) -> str:
    """Encode a 32-byte Ed25519 seed as `secretKeyMultibase` (`z3u2…`)."""
    if len(seed) != 32:
        raise KeyFormatError("an Ed25519 secret key seed has 32 bytes")
    return encode_base58btc(ED25519_SECRET_PREFIX + seed)


def decode_secret_multikey(value: str) -> bytes:
    """Decode `secretKeyMultibase` (`z3u2…`) to the 32-byte Ed25519 seed."""
    try:
        data = decode_base58btc(value)
    except MultibaseError as error:
        raise KeyFormatError(str(error)) from None
    if not data.startswith(ED25519_SECRET_PREFIX) or len(data) != 34:
        raise KeyFormatError("not an Ed25519 secret Multikey (expected prefix 0x8026, 32 bytes)")
    return data[2:]


@dataclass(frozen=True, slots=True)
class Ed25519KeyPair:
    """An Ed25519 signing key with its public half."""

    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Ed25519KeyPair:
        """Create a fresh random key pair."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519KeyPair:
        """Rebuild a key pair from its 32-byte seed."""
        if len(seed) != 32:
            raise KeyFormatError("an Ed25519 secret key seed has 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_secret_multikey(cls, value: str) -> Ed25519KeyPair:
        """Rebuild a key pair from `secretKeyMultibase`."""
        return cls.from_seed(decode_secret_multikey(value))

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickled as its seed (a signing process pool gets the key this way)."""
        return (Ed25519KeyPair.from_seed, (self.seed,))

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed."""
        return self.private_key.private_bytes_raw()

    @property
    def public_key_bytes(self) -> bytes:
        """The 32 raw public key bytes."""
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_multikey(self) -> str:
        """`publicKeyMultibase` of this key pair (`z6Mk…`)."""
        return encode_public_multikey(self.public_key_bytes)

    @property
    def secret_multikey(self) -> str:
        """`secretKeyMultibase` of this key pair (`z3u2…`)."""
        return encode_secret_multikey(self.seed)

    def sign(self, data: bytes) -> bytes:
        """Sign bytes with Ed25519 (64-byte signature)."""
        return self.private_key.sign(data)


def verify_ed25519(public_key: bytes, signature: bytes, data: bytes) -> bool:
    """Return whether `signature` is a valid Ed25519 signature of `data` under `public_key`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except InvalidSignature:
        return False
    return True
