"""Multibase: the hand-written base58 encoder gives what the `base58` package gives."""

from __future__ import annotations

import random

import base58
import pytest

from credreg_shared.credentials.multibase import (
    decode_base58btc,
    encode_base58,
    encode_base58btc,
)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0",
        b"\0\0\0",
        b"\0\x01",
        b"\x01",
        b"\x39",  # 57: the last one-digit value
        b"\x3a",  # 58: the first two-digit value
        b"\xff" * 64,
        b"\0" * 64,
        bytes(range(256)),
    ],
)
def test_edge_values_encode_as_the_base58_package_does(data: bytes) -> None:
    assert encode_base58(data) == base58.b58encode(data).decode("ascii")


def test_random_values_encode_as_the_base58_package_does_and_decode_back() -> None:
    generator = random.Random(58)
    for n in range(3000):
        zeros = b"\0" * generator.randrange(4) if n % 3 == 0 else b""
        data = zeros + generator.randbytes(generator.randrange(0, 80))
        encoded = encode_base58btc(data)
        assert encoded == "z" + base58.b58encode(data).decode("ascii")
        if data:  # "z" alone is refused as malformed
            assert decode_base58btc(encoded) == data


def test_every_ten_digit_piece_boundary_encodes_exactly() -> None:
    # Values around 58^k, where the encoder's pieces and pairs roll over.
    for power in range(1, 60):
        for value in (58**power - 1, 58**power, 58**power + 1):
            data = value.to_bytes((value.bit_length() + 7) // 8, "big")
            assert encode_base58(data) == base58.b58encode(data).decode("ascii")
