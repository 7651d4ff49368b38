"""Entry point: `python -m credreg_notifier`."""


def main() -> None:
    """Run the notifier service."""
    raise SystemExit("credreg-notifier is not built yet")


if __name__ == "__main__":
    main()
