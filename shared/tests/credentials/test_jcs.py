"""Our JCS output equals the rfc8785 library's on every kind of JSON value."""

from __future__ import annotations

import pytest
import rfc8785

from credreg_shared.credentials.canonicalization import CanonicalizationError, canonicalize_jcs

VALUES = [
    {"b": 1, "a": [True, False, None], "c": {"z": "", "y": "é\u2028\u007f"}},
    {"control": '\u0000\u0001\b\t\n\u000b\f\r\u001f"\\/', "emoji": "🎓", "cjk": "資格"},
    {"\u00e9": 1, "e": 2, "\U0001f600": 3, "\uffff": 4},  # non-ASCII keys: UTF-16 ordering
    {"floats": [0.1, 1.0, -0.0, 1e21, 1e-7, 123456789.125]},
    {"big": 2**53 - 1, "small": -(2**53 - 1)},
    [1, "two", [3, {"four": 4}]],
    "plain",
    42,
]


@pytest.mark.parametrize("value", VALUES)
def test_matches_rfc8785(value):
    assert canonicalize_jcs(value) == rfc8785.dumps(value)


def test_credential_vector_matches_rfc8785(vectors, micro_credential):
    for document in (vectors.json("unsigned.json"), micro_credential().to_document()):
        assert canonicalize_jcs(document) == rfc8785.dumps(document)


@pytest.mark.parametrize("value", [{"n": 2**53}, {"nan": float("nan")}, {"s": "\ud800"}, {1: 2}])
def test_values_jcs_cannot_represent_are_refused(value):
    with pytest.raises(CanonicalizationError):
        canonicalize_jcs(value)
