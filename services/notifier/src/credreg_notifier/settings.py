"""Notifier settings (``CREDREG_*`` environment variables)."""

from typing import Self

from pydantic import Field, model_validator

from credreg_shared.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    """Settings of the notifier service."""

    service_name: str = "notifier"
    http_port: int = Field(default=8004, ge=0, le=65535)
    mongodb_database: str = "credreg_notifier"
    # Loopback and private targets are refused in production (SSRF); tests and demos allow them.
    allow_private_webhook_targets: bool = False
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_backoff_base_seconds: float = Field(default=2.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    # Longer than one attempt can take, so a live worker never loses its claim mid-send.
    webhook_lease_seconds: float = Field(default=30.0, gt=0)
    delivery_poll_seconds: float = Field(default=0.2, gt=0)
    delivery_concurrency: int = Field(default=4, ge=1, le=256)

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Self:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must exceed webhook_timeout_seconds")
        return self
