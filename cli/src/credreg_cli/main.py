"""The `credreg` command line."""

from __future__ import annotations

import typer

from .dlq_command import dlq
from .institutions_command import institutions
from .issue_command import issue
from .registry_command import registry
from .verify_command import verify

app = typer.Typer(
    name="credreg",
    help="Issue, import, revoke and verify micro-credentials.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("verify")(verify)
app.command("issue")(issue)
app.add_typer(registry, name="registry")
app.add_typer(institutions, name="institutions")
app.add_typer(dlq, name="dlq")


@app.callback()
def main() -> None:
    """credreg: a registry for digital micro-credentials."""
