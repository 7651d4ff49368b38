"""Revocation settings (``CREDREG_*`` environment variables)."""

from pydantic import Field

from credreg_shared.settings import ServiceSettings


class RevocationSettings(ServiceSettings):
    """Settings of the revocation service."""

    service_name: str = "revocation"
    http_port: int = Field(default=8003, ge=0, le=65535)
    mongodb_database: str = "credreg_revocation"
    # Institution API keys: JSON object of key → institution id (the credential's issuer id).
    api_keys: dict[str, str] = Field(default_factory=dict, repr=False)
    source: str = "urn:credreg:revocation"
