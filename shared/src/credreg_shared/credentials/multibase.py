"""Multibase encodings for Data Integrity: base58btc (`z`) and unpadded base64url (`u`)."""

from __future__ import annotations

import base64
import binascii

import base58


class MultibaseError(ValueError):
    """Raised when a multibase string is malformed or uses an unexpected base."""


_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
"""Every two-digit base58 number's text, by its value (0 to 58² - 1)."""
_TEN_DIGITS = 58**10


def encode_base58btc(data: bytes) -> str:
    """Encode bytes as multibase base58btc (`z…`)."""
    return "z" + encode_base58(data)


def encode_base58(data: bytes) -> str:
    """Bitcoin base58 of `data` (what `base58.b58encode` gives, as text).

    Every credential's proof value goes through this: the `base58` package divides the whole
    number once per digit in Python (~30 µs for a signature); here the number is cut into
    ten-digit pieces (a big division each), and each piece into five two-digit table lookups.
    """
    number = int.from_bytes(data, "big")
    pieces: list[int] = []
    while number:
        number, piece = divmod(number, _TEN_DIGITS)
        pieces.append(piece)
    pairs = _PAIRS
    digits: list[str] = []
    for piece in reversed(pieces):
        high, low = divmod(piece, 58**6)
        a, b = divmod(high, 58**2)
        c, d = divmod(low, 58**4)
        e, f = divmod(d, 58**2)
        digits += (pairs[a], pairs[b], pairs[c], pairs[e], pairs[f])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(digits).lstrip("1")


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
