"""Entry point: ``python -m credreg_revocation`` (or ``credreg-revocation``)."""

from credreg_revocation.bootstrap import build_app
from credreg_revocation.settings import RevocationSettings
from credreg_shared.runtime import run_service


def main() -> None:
    """Run the revocation service."""
    settings = RevocationSettings()
    run_service(settings, lambda: build_app(settings))


if __name__ == "__main__":
    main()
