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
    proof_hash = hashlib.sha256(suite.canonicalize(proof_config)).digest()
    document_hash = hashlib.sha256(suite.canonicalize(document)).digest()
    return proof_hash + document_hash
