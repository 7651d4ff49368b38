"""Entry point: ``python -m credreg_issuer`` (or ``credreg-issuer``)."""

from credreg_issuer.bootstrap import build_app
from credreg_issuer.settings import IssuerSettings
from credreg_shared.runtime import run_service


def main() -> None:
    """Run the issuer service."""
    settings = IssuerSettings()
    run_service(settings, lambda: build_app(settings))


if __name__ == "__main__":
    main()
