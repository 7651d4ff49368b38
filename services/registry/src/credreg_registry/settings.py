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
    # Events the projection folds and writes at once. Bigger batches mean fewer, larger writes
    # (FerretDB commits one SQLite transaction per bulk: 2,000 gave 17 % more events/s than 500
    # at 200,000 credentials) and ~40 KB of memory per event while a batch is applied (at
    # 200,000 credentials the registry's RSS peaked at 144 MiB with 1,000, 194 MiB with 2,000).
    # The consumer parses the next batch while one is applied, so two can be in memory at once.
    view_batch: int = Field(default=1_200, ge=1, le=20_000)
    # The rebuild is a process of its own, so it can afford larger batches (two of 3,000 in
    # memory at once: ~150 MB).
    rebuild_batch: int = Field(default=3_000, ge=1, le=50_000)
