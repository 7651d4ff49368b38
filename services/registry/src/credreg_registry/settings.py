"""Registry settings (``CREDREG_*`` environment variables)."""

from pydantic import Field

from credreg_shared.settings import CallerSettings


class RegistrySettings(CallerSettings):
    """Settings of the registry service."""

    service_name: str = "registry"
    http_port: int = Field(default=8002, ge=0, le=65535)
    mongodb_database: str = "credreg_registry"
    # did:web host → base URL for `POST /v1/verify` (a local deployment: {"localhost%3A8001":
    # "http://127.0.0.1:8001"}); every other host is fetched over https, public addresses only.
    did_web_hosts: dict[str, str] = Field(default_factory=dict)
