"""Issuer settings (``CREDREG_*`` environment variables)."""

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

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
    credentials_url: str = "/v1/credentials"
    # JSON object of institution id → Ed25519 `secretKeyMultibase` (z3u2…); institutions
    # without a key get unsigned credentials. Interim until per-issuer keys live encrypted in
    # the database.
    signing_keys: dict[str, SecretStr] = Field(default_factory=dict, repr=False)
    signing_cryptosuite: Literal["eddsa-jcs-2022", "eddsa-rdfc-2022"] = "eddsa-jcs-2022"

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
