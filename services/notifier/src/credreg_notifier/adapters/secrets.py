"""Subscriptions' signing secrets sealed at rest under the key-encryption keys."""

from __future__ import annotations

from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring

SEALED_PREFIX = "sealed:"


class SealedSecrets:
    """`SecretVault` over a keyring: AES-256-GCM, bound to the subscription's id; a secret
    stored before sealing began (no prefix) still opens as it is."""

    def __init__(self, keyring: KeyEncryptionKeyring) -> None:
        self.keyring = keyring

    def seal(self, subscription_id: str, secret: str) -> str:
        """The stored form of a secret."""
        return SEALED_PREFIX + self.keyring.seal_text(subscription_id, secret)

    def open(self, subscription_id: str, stored: str) -> str:
        """The secret behind a stored form."""
        if not stored.startswith(SEALED_PREFIX):
            return stored
        return self.keyring.open_text(subscription_id, stored.removeprefix(SEALED_PREFIX))
