"""`credreg registry rebuild`: run the registry's own rebuild where the registry is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import typer

registry = typer.Typer(help="Operate the registry's view.", no_args_is_help=True)


@registry.command("rebuild")
def rebuild() -> None:
    """Replay the log into a fresh view, then switch every registry to it (CREDREG_* settings).

    The running registries keep serving the old view until the new one has caught up; an
    interrupted rebuild changes nothing anyone reads.
    """
    if importlib.util.find_spec("credreg_registry") is None:
        typer.echo(
            "credreg: the registry service is not installed here; run this where it runs",
            err=True,
        )
        raise typer.Exit(code=2)
    # Its own process: the registry's settings and event loop, and its exit code as ours.
    finished = subprocess.run([sys.executable, "-m", "credreg_registry", "rebuild"], check=False)
    raise typer.Exit(code=finished.returncode)
