"""The orjson fast path of JCS gives rfc8785's bytes, or leaves the value to rfc8785."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785

from credreg_shared.credentials.canonicalization import (
    CanonicalizationError,
    _json_dumps_is_jcs,
    canonicalize_jcs,
)

STRINGS = [
    "",
    'a "quoted" word / slash',
    "back\\slash",
    "".join(chr(c) for c in range(0x20)) + "\x7f",
    "Ünïcödé — ½ ∑ 漢字 עברית",
    "emoji 🎓 and \U0010ffff",
    "\u2028\u2029\ufeff\ue000\uffff",
]


def test_the_fast_path_covers_plain_credentials(micro_credential: Callable[..., Any]) -> None:
    assert _json_dumps_is_jcs(micro_credential().to_document())


@pytest.mark.parametrize("text", STRINGS)
def test_strings_serialise_as_rfc8785_does(text: str) -> None:
    value = {"b": text, "a": [text, 1, True, None, (text, 2)], "c": {"z": text}}
    assert _json_dumps_is_jcs(value)
    assert canonicalize_jcs(value) == rfc8785.dumps(value)


def test_random_plain_values_serialise_as_rfc8785_does() -> None:
    rng = random.Random(3)

    def value(depth: int) -> Any:
        kind = rng.randrange(7 if depth < 4 else 4)
        if kind == 0:
            return rng.choice(STRINGS) + rng.choice(STRINGS)
        if kind == 1:
            return rng.randint(-(2**53) + 1, 2**53 - 1)
        if kind == 2:
            return rng.choice([True, False, None])
        if kind == 3:
            return rng.choice(["", "x", "0", "true"])
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {f"k{rng.randrange(30)}{rng.choice('aZ_@:')}": value(depth + 1) for _ in range(4)}

    for _ in range(500):
        document = value(0)
        assert canonicalize_jcs(document) == rfc8785.dumps(document)


def test_values_beyond_the_fast_path_still_get_rfc8785_bytes_or_its_error() -> None:
    deep: Any = "x"
    for _ in range(300):  # deeper than orjson nests
        deep = [deep]
    assert canonicalize_jcs(deep) == rfc8785.dumps(deep)
    with pytest.raises(CanonicalizationError):
        canonicalize_jcs({"s": "lone \ud800 surrogate"})
