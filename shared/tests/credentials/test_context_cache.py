"""The processed-context memo changes nothing: canonical forms with and without it are equal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from credreg_shared.credentials import context_cache
from credreg_shared.credentials.canonicalization import canonicalize_rdf_reference

VECTORS = Path(__file__).parent / "vectors"


def reference(document: dict[str, Any]) -> str:
    """pyld processing every context afresh."""
    with context_cache.disabled():
        return canonicalize_rdf_reference(document)


def corpus_files() -> list[Path]:
    """Every JSON-LD document among the copied vectors (credentials, proofs, status lists)."""
    found = []
    for path in sorted(VECTORS.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and "@context" in document:
            found.append(path)
    return found


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(VECTORS)))
def test_vectors_canonicalise_the_same_with_the_memo(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert canonicalize_rdf_reference(document) == reference(document)


def test_credentials_of_varied_shapes_canonicalise_the_same_in_any_order(
    micro_credential: Callable[..., Any],
) -> None:
    documents = [
        micro_credential().to_document(),
        micro_credential(issuer="did:web:other.example").to_document(),
        micro_credential(description='Ünïcode "quoted" \\ back\nslash\ttab').to_document(),
        micro_credential(valid_until="2031-01-01T00:00:00Z").to_document(),
    ]
    expected = [reference(d) for d in documents]
    # Warm the memo on one order, then read in another: results must not depend on history.
    for _ in range(2):
        assert [canonicalize_rdf_reference(d) for d in documents] == expected
        assert [canonicalize_rdf_reference(d) for d in reversed(documents)] == expected[::-1]


def test_the_memo_is_what_makes_repeated_signing_cheap() -> None:
    context_cache._memo.clear()
    document = json.loads((VECTORS / "unsigned.json").read_text(encoding="utf-8"))
    canonicalize_rdf_reference(document)
    assert context_cache._memo, "the memo remembered no processed context"
