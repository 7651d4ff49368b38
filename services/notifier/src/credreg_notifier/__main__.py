"""Entry point: ``python -m credreg_notifier`` (or ``credreg-notifier``)."""

from credreg_notifier.bootstrap import build_app
from credreg_notifier.settings import NotifierSettings
from credreg_shared.runtime import run_service


def main() -> None:
    """Run the notifier service."""
    settings = NotifierSettings()
    run_service(settings, lambda: build_app(settings))


if __name__ == "__main__":
    main()
