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
    # How often the expiry scheduler looks for notices that fell due (ten-second buckets).
    expiry_poll_seconds: float = Field(default=2.0, gt=0)
    # How long a replica's hold on the scheduler lasts unless renewed (every bucket renews it).
    expiry_lease_seconds: float = Field(default=30.0, gt=0)
    # Days before validUntil that "expiring" notices go out, for institutions that set none.
    # The issuer's API, for "reissue and supersede" (which issues the replacement there).
    issuer_url: str = Field(default="http://127.0.0.1:8001", pattern=r"^https?://\S+$")
    # How long "reissue and supersede" waits for the replacement to reach this service.
    supersede_wait_seconds: float = Field(default=10.0, gt=0)
    expiry_default_lead_days: tuple[int, ...] = Field(default=(30,), min_length=1, max_length=5)
