"""Entry point: ``python -m credreg_registry`` runs the service; ``… rebuild`` rebuilds its view."""

import asyncio
import sys

from credreg_registry.bootstrap import build_app
from credreg_registry.settings import RegistrySettings
from credreg_shared.heap import settle_heap
from credreg_shared.runtime import run_service


def main() -> None:
    """Run the registry service, or `rebuild` its view (exit 0 once the new view serves)."""
    settings = RegistrySettings()
    if sys.argv[1:] == ["rebuild"]:
        from credreg_registry.rebuild import RebuildRaced, rebuild

        def progress(events: int) -> None:
            print(f"rebuild: {events:,} events replayed", flush=True)

        # A process of its own, as a service is: a quarter less CPU per event replayed.
        settle_heap()
        try:
            report = asyncio.run(rebuild(settings, progress=progress))
        except RebuildRaced as raced:
            print(f"rebuild: {raced}; nothing switched", file=sys.stderr)
            sys.exit(1)
        print(
            f"rebuild: generation {report.generation} serves: {report.events:,} events in "
            f"{report.seconds:.1f} s ({report.per_second:,.0f}/s)"
        )
        return
    if sys.argv[1:]:
        print("usage: python -m credreg_registry [rebuild]", file=sys.stderr)
        sys.exit(2)
    run_service(settings, lambda: build_app(settings))


if __name__ == "__main__":
    main()
