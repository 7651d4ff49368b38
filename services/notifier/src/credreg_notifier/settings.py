"""Notifier settings (``CREDREG_*`` environment variables)."""

from typing import Self

from pydantic import Field, SecretStr, model_validator

from credreg_shared.settings import CallerSettings


class NotifierSettings(CallerSettings):
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
    # Each holder or institution keeps at most this many subscriptions (fan-out is bounded).
    subscriptions_per_owner: int = Field(default=20, ge=1, le=10_000)
    # And creates at most this many in any one minute.
    subscriptions_created_per_minute: int = Field(default=10, ge=1, le=10_000)
    # Seals subscriptions' signing secrets at rest (`id:base64url[,…]`, the issuer's format:
    # the first seals, all open). Unset: secrets are stored as they are (a warning at start).
    key_encryption_key: SecretStr | None = Field(default=None, repr=False)
    # How long a rotated-out secret still signs beside the new one.
    secret_overlap_hours: float = Field(default=24.0, ge=0, le=24 * 30)

    # Open live streams' counters are read this often, all in a few reads (events stored by
    # other replicas); the replica's own consumer wakes a stream at once.
    stream_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    # An idle stream also reads its holder's counter itself this often (a safety net: the
    # watcher above reads every open stream's counter anyway). Each open stream pays it: at 5 s,
    # 1,000 streams cost 200 reads a second.
    stream_recheck_seconds: float = Field(default=60.0, gt=0, le=3600)
    # A `: ping` comment this often keeps proxies from closing an idle stream.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=3600)
    # A number counted but still unwritten this long is skipped (its writer died between the
    # two writes; the redelivered event takes a later number).
    stream_gap_grace_seconds: float = Field(default=10.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Self:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must exceed webhook_timeout_seconds")
        return self
