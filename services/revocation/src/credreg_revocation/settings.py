"""Revocation settings (``CREDREG_*`` environment variables)."""

from pydantic import Field

from credreg_shared.settings import InstitutionApiSettings


class RevocationSettings(InstitutionApiSettings):
    """Settings of the revocation service."""

    service_name: str = "revocation"
    http_port: int = Field(default=8003, ge=0, le=65535)
    mongodb_database: str = "credreg_revocation"
    source: str = "urn:credreg:revocation"
    # How often the outbox relay looks for changes whose event a crash left unpublished.
    outbox_poll_seconds: float = Field(default=5.0, gt=0)
