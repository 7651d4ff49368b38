"""Entry point: ``python -m credreg_registry`` (or ``credreg-registry``)."""

from credreg_registry.bootstrap import build_app
from credreg_registry.settings import RegistrySettings
from credreg_shared.runtime import run_service


def main() -> None:
    """Run the registry service."""
    settings = RegistrySettings()
    run_service(settings, lambda: build_app(settings))


if __name__ == "__main__":
    main()
