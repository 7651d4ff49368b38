"""The EdDSA cryptosuites: `eddsa-rdfc-2022` (RDFC-1.0) and `eddsa-jcs-2022` (JCS)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .canonicalization import canonicalize_jcs, canonicalize_rdf

EDDSA_RDFC_2022 = "eddsa-rdfc-2022"
EDDSA_JCS_2022 = "eddsa-jcs-2022"


class Cryptosuite(Protocol):
    """What Data Integrity needs from a cryptosuite besides Ed25519 itself."""

    @property
    def name(self) -> str:
        """The `cryptosuite` value in proofs."""
        ...

    @property
    def proof_carries_context(self) -> bool:
        """Whether the signed proof keeps the document's `@context`."""
        ...

    def canonicalize(self, document: Mapping[str, Any]) -> bytes:
        """Return the canonical bytes that get hashed."""
        ...


@dataclass(frozen=True, slots=True)
class EddsaRdfc2022:
    """`eddsa-rdfc-2022`: RDF Dataset Canonicalization, SHA-256, Ed25519."""

    name: str = EDDSA_RDFC_2022
    proof_carries_context: bool = False

    def canonicalize(self, document: Mapping[str, Any]) -> bytes:
        """Return the RDFC-1.0 canonical N-Quads as UTF-8."""
        return canonicalize_rdf(document).encode("utf-8")


@dataclass(frozen=True, slots=True)
class EddsaJcs2022:
    """`eddsa-jcs-2022`: JSON Canonicalization Scheme, SHA-256, Ed25519."""

    name: str = EDDSA_JCS_2022
    # The JCS suite's proof configuration step writes @context into the proof itself.
    proof_carries_context: bool = True

    def canonicalize(self, document: Mapping[str, Any]) -> bytes:
        """Return the JCS canonical JSON bytes."""
        return canonicalize_jcs(document)


CRYPTOSUITES: Mapping[str, Cryptosuite] = {
    EDDSA_RDFC_2022: EddsaRdfc2022(),
    EDDSA_JCS_2022: EddsaJcs2022(),
}


def hash_data(
    suite: Cryptosuite, *, proof_config: Mapping[str, Any], document: Mapping[str, Any]
) -> bytes:
    """Return SHA-256(canonical proof config) ‖ SHA-256(canonical document): the bytes signed."""
    document_hash = hashlib.sha256(suite.canonicalize(document)).digest()
    return _proof_config_hash(suite, proof_config) + document_hash


_CONFIG_MEMO_SIZE = 256
_config_hashes: dict[tuple[Any, ...], bytes] = {}
"""Hashes of proof configurations by their content: the credentials of a batch share one (same
key, suite, purpose and `created` second), and canonicalizing it took a tenth of an rdfc proof."""


def _proof_config_hash(suite: Cryptosuite, proof_config: Mapping[str, Any]) -> bytes:
    key = _config_key(suite, proof_config)
    found = _config_hashes.get(key) if key is not None else None
    if found is None:
        found = hashlib.sha256(suite.canonicalize(proof_config)).digest()
        if key is not None:
            if len(_config_hashes) >= _CONFIG_MEMO_SIZE:
                _config_hashes.clear()
            _config_hashes[key] = found
    return found


def _config_key(suite: Cryptosuite, proof_config: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The configuration as a hashable key (strings and lists of strings), else None."""
    key: list[Any] = [type(suite), suite.name]
    for name, value in proof_config.items():
        if type(value) is str:
            key.append((name, value))
        elif type(value) is list and all(type(item) is str for item in value):
            key.append((name, tuple(value)))
        else:
            return None  # an embedded context, a number...: canonicalized every time
    return tuple(key)
