"""Data Integrity proofs with each institution's Ed25519 key, when it has one configured.

The verification method is ``<institution DID>#<public multikey>``: for a ``did:key`` issuer
that is its own key (verifiers resolve it offline); for a ``did:web`` issuer it is the method
its DID document must list. An institution id that is no DID gets a ``did:key`` method, so the
proof still verifies, but nothing binds the key to the issuer yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from credreg_shared.credentials.cryptosuites import EDDSA_JCS_2022
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.keys import Ed25519KeyPair


def verification_method_for(institution: str, key_pair: Ed25519KeyPair) -> str:
    """The id of the verification method that proofs by `institution` name."""
    controller = (
        institution if institution.startswith("did:") else did_key_for(key_pair.public_key_bytes)
    )
    return f"{controller}#{key_pair.public_multikey}"


class CredentialSigner:
    """Adds one `DataIntegrityProof` per credential, with the issuing institution's key."""

    def __init__(
        self, keys: Mapping[str, Ed25519KeyPair], *, cryptosuite: str = EDDSA_JCS_2022
    ) -> None:
        self.keys = dict(keys)
        self.cryptosuite = cryptosuite

    def sign(
        self, document: Mapping[str, Any], *, institution: str, created: datetime
    ) -> dict[str, Any]:
        """The document with a proof, or unchanged when the institution has no key."""
        key_pair = self.keys.get(institution)
        if key_pair is None:
            return dict(document)
        return add_proof(
            document,
            key_pair=key_pair,
            verification_method=verification_method_for(institution, key_pair),
            cryptosuite=self.cryptosuite,
            created=created,
        )
