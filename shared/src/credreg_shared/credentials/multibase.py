"""Multibase encodings for Data Integrity: base58btc (`z`) and unpadded base64url (`u`)."""

from __future__ import annotations

import base64
import binascii

import base58


class MultibaseError(ValueError):
    """Raised when a multibase string is malformed or uses an unexpected base."""


def encode_base58btc(data: bytes) -> str:
    """Encode bytes as multibase base58btc (`z…`)."""
    return "z" + base58.b58encode(data).decode("ascii")


def decode_base58btc(value: str) -> bytes:
    """Decode a multibase base58btc (`z…`) string."""
    if not value.startswith("z") or len(value) < 2:
        raise MultibaseError("expected a multibase base58btc value starting with 'z'")
    try:
        return base58.b58decode(value[1:])
    except ValueError as error:
        raise MultibaseError(f"invalid base58btc: {error}") from None


def encode_base64url(data: bytes) -> str:
    """Encode bytes as multibase base64url without padding (`u…`)."""
    return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_base64url(value: str) -> bytes:
    """Decode a multibase base64url (`u…`) string, padded or not."""
    if not value.startswith("u"):
        raise MultibaseError("expected a multibase base64url value starting with 'u'")
    body = value[1:]
    if "=" in body.rstrip("="):
        raise MultibaseError("invalid base64url: padding inside the value")
    body = body.rstrip("=")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as error:
        raise MultibaseError(f"invalid base64url: {error}") from None
