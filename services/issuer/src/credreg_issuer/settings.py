"""Issuer settings (``CREDREG_*`` environment variables)."""

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from credreg_shared.credentials.key_encryption import KeyEncryptionError, KeyEncryptionKeyring
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.settings import InstitutionApiSettings


class IssuerSettings(InstitutionApiSettings):
    """Settings of the issuer service."""

    # A refused setting must not echo secrets (API keys, signing keys) into the start-up log.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    service_name: str = "issuer"
    http_port: int = Field(default=8001, ge=0, le=65535)
    mongodb_database: str = "credreg_issuer"
    source: str = "urn:credreg:issuer"
    # Where the credential's view is served (the registry); the 201's Location starts with it.
    # Keys the derivation of credential ids from Idempotency-Keys, so that an id cannot be
    # computed from a known or guessed key (every replica needs the same one; changing it
    # changes the ids of retries still to come). Unset: the ids are derived unkeyed.
    credential_id_secret: SecretStr | None = Field(default=None, repr=False)
    # Where a credential is read once issued (the `Location` of `POST /v1/credentials`): the
    # registry's credential route, which answers its holder and its issuer.
    credentials_url: str = Field(
        default="http://localhost:8002/v1/credentials", pattern=r"^https?://\S+$"
    )
    # JSON object of institution id → Ed25519 `secretKeyMultibase` (z3u2…); institutions
    # without a key get unsigned credentials. Interim until per-issuer keys live encrypted in
    # the database.
    signing_keys: dict[str, SecretStr] = Field(default_factory=dict, repr=False)
    signing_cryptosuite: Literal["eddsa-jcs-2022", "eddsa-rdfc-2022"] = "eddsa-jcs-2022"
    # The bootstrap admin key: it creates institutions and their keys (off when unset).
    admin_api_key: SecretStr | None = Field(default=None, repr=False)
    # `id:base64url[,id:base64url…]` (32-byte AES keys; the first one encrypts, all decrypt, so
    # a new one is rotated in by putting it first): seals institutions' signing keys at rest.
    key_encryption_key: SecretStr | None = Field(default=None, repr=False)
    # Host (and port) in the did:web of institutions hosted here: did:web:<host>:institutions:…
    did_web_host: str = Field(default="localhost:8001", min_length=1)
    # Public base URL of this issuer's status lists (in every credential's status entry).
    status_list_base_url: str = Field(default="http://localhost:8001", pattern=r"^https?://\S+$")

    # Processes that sign batches beside the event loop (0: sign in the event loop itself).
    signing_processes: int = Field(default=1, ge=0, le=64)
    # How often the batch worker looks for batches left unfinished (a crash, another replica).
    batch_poll_seconds: float = Field(default=5.0, gt=0)
    # How long a replica holds a batch it issues without renewing (a chunk renews it); after
    # a crash, another replica takes the batch over once it runs out.
    batch_lease_seconds: float = Field(default=60.0, gt=0)

    def keyring(self) -> KeyEncryptionKeyring | None:
        """The key-encryption keyring, if one is configured."""
        if self.key_encryption_key is None:
            return None
        return KeyEncryptionKeyring.from_string(self.key_encryption_key.get_secret_value())

    @model_validator(mode="after")
    def _key_encryption_key_is_usable(self) -> Self:
        if self.key_encryption_key is not None:
            try:
                self.keyring()
            except KeyEncryptionError as error:
                # The message names the rule broken, never the key.
                raise ValueError(f"CREDREG_KEY_ENCRYPTION_KEY is unusable: {error}") from None
        elif self.admin_api_key is not None:
            raise ValueError(
                "CREDREG_KEY_ENCRYPTION_KEY is required with CREDREG_ADMIN_API_KEY: "
                "institutions' signing keys are kept encrypted with it"
            )
        return self

    def signing_key_pairs(self) -> dict[str, Ed25519KeyPair]:
        """The configured signing keys, by institution id."""
        return {
            institution: Ed25519KeyPair.from_secret_multikey(secret.get_secret_value())
            for institution, secret in self.signing_keys.items()
        }

    @model_validator(mode="after")
    def _signing_keys_are_well_formed(self) -> Self:
        # Fail at start-up, not at the first issuance; the error never echoes the key.
        for institution, secret in self.signing_keys.items():
            try:
                Ed25519KeyPair.from_secret_multikey(secret.get_secret_value())
            except ValueError:
                raise ValueError(
                    f"signing key of {institution!r} is not an Ed25519 secretKeyMultibase"
                ) from None
        return self
