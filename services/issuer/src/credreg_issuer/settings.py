"""Issuer settings (``CREDREG_*`` environment variables)."""

from pydantic import Field

from credreg_shared.settings import InstitutionApiSettings


class IssuerSettings(InstitutionApiSettings):
    """Settings of the issuer service."""

    service_name: str = "issuer"
    http_port: int = Field(default=8001, ge=0, le=65535)
    mongodb_database: str = "credreg_issuer"
    source: str = "urn:credreg:issuer"
