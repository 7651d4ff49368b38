"""Entry point: `python -m credreg_issuer`."""


def main() -> None:
    """Run the issuer service."""
    raise SystemExit("credreg-issuer is not built yet")


if __name__ == "__main__":
    main()
