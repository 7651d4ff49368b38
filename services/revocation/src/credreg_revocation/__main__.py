"""Entry point: `python -m credreg_revocation`."""


def main() -> None:
    """Run the revocation service."""
    raise SystemExit("credreg-revocation is not built yet")


if __name__ == "__main__":
    main()
