"""The Bitstring Status List bitstring: GZIP, base64url without padding, multibase `u` prefix."""

from __future__ import annotations

import zlib

from .multibase import MultibaseError, decode_base64url, encode_base64url

MIN_STATUS_LIST_LENGTH = 131_072  # bits, i.e. 16 KiB: the spec's minimum for herd privacy
# A status list of a million entries decompresses to 128 KiB; refuse gzip bombs well above that.
MAX_DECODED_BYTES = 16 * 1024 * 1024


class BitstringDecodeError(ValueError):
    """Raised when an `encodedList` is not multibase base64url GZIP data."""


class Bitstring:
    """A fixed-length bitstring where index 0 is the leftmost (most significant) bit."""

    __slots__ = ("_bits",)

    def __init__(self, length: int = MIN_STATUS_LIST_LENGTH) -> None:
        if length <= 0 or length % 8:
            raise ValueError("length must be a positive multiple of 8")
        self._bits = bytearray(length // 8)

    @classmethod
    def from_bytes(cls, data: bytes) -> Bitstring:
        """Wrap raw bytes (copied) as a bitstring."""
        bitstring = cls(max(len(data), 1) * 8)
        bitstring._bits[: len(data)] = data
        return bitstring

    @classmethod
    def decode(cls, encoded_list: str) -> Bitstring:
        """Decode a multibase `encodedList` (`u` + base64url(GZIP(bits)))."""
        try:
            compressed = decode_base64url(encoded_list)
        except MultibaseError as error:
            raise BitstringDecodeError(str(error)) from None
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        try:
            data = inflater.decompress(compressed, MAX_DECODED_BYTES)
        except zlib.error as error:
            raise BitstringDecodeError(f"not GZIP data: {error}") from None
        if inflater.unconsumed_tail:
            raise BitstringDecodeError("decoded status list is larger than allowed")
        if not inflater.eof:
            raise BitstringDecodeError("truncated GZIP data")
        if not data:
            raise BitstringDecodeError("empty status list")
        return cls.from_bytes(data)

    def encode(self) -> str:
        """Encode as a multibase `encodedList`."""
        # zlib's own GZIP framing (mtime 0, default level) is a pure function of the bits,
        # so ETags are stable, and it matches the bytes other implementations publish.
        compressor = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
        return encode_base64url(compressor.compress(self._bits) + compressor.flush())

    def __len__(self) -> int:
        return len(self._bits) * 8

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} outside 0..{len(self) - 1}")
        return index >> 3, 0x80 >> (index & 7)

    def get(self, index: int) -> bool:
        """Return the bit at `index`."""
        byte, mask = self._locate(index)
        return bool(self._bits[byte] & mask)

    def set(self, index: int, value: bool) -> None:
        """Set the bit at `index`."""
        byte, mask = self._locate(index)
        if value:
            self._bits[byte] |= mask
        else:
            self._bits[byte] &= ~mask & 0xFF

    def set_indices(self) -> list[int]:
        """Return every index whose bit is set, in order."""
        return [
            (byte_index << 3) + bit
            for byte_index, byte in enumerate(self._bits)
            if byte
            for bit in range(8)
            if byte & (0x80 >> bit)
        ]

    def to_bytes(self) -> bytes:
        """Return a copy of the raw bytes."""
        return bytes(self._bits)
