"""Entry point: `python -m credreg_registry`."""


def main() -> None:
    """Run the registry service."""
    raise SystemExit("credreg-registry is not built yet")


if __name__ == "__main__":
    main()
