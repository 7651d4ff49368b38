"""Registry settings (``CREDREG_*`` environment variables)."""

from pydantic import Field

from credreg_shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    """Settings of the registry service."""

    service_name: str = "registry"
    http_port: int = Field(default=8002, ge=0, le=65535)
    mongodb_database: str = "credreg_registry"
