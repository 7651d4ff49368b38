"""`credreg verify FILE`: verify a credential offline and print the report."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from credreg_shared.credentials.report import Outcome, VerificationReport
from credreg_shared.credentials.resolution import MaterialFetcher, parse_host_map
from credreg_shared.credentials.validity import parse_datetime
from credreg_shared.credentials.verification import VerificationMaterial, verify_credential

_STYLES = {Outcome.PASSED: "green", Outcome.FAILED: "bold red", Outcome.NOT_APPLICABLE: "dim"}


def _read_json(path: Path) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        typer.echo(f"credreg: cannot read {path}: {error}", err=True)
        raise typer.Exit(code=2) from None


def _by_id(paths: list[Path], kind: str) -> dict[str, Any]:
    documents: dict[str, Any] = {}
    for path in paths:
        document = _read_json(path)
        if not isinstance(document, dict) or not isinstance(document.get("id"), str):
            typer.echo(f"credreg: {path} is not a {kind} with an id", err=True)
            raise typer.Exit(code=2)
        documents[document["id"]] = document
    return documents


def _parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = parse_datetime(value)
    if moment is None:
        typer.echo(f"credreg: --at {value!r} is not a dateTime like 2026-01-31T12:00:00Z", err=True)
        raise typer.Exit(code=2)
    return moment


def render_report(report: VerificationReport, console: Console) -> None:
    """Print a report as a table, with details under failed checks and every warning."""
    title = escape(f"Credential {report.credential_id or '(no id)'}")
    table = Table(title=title, title_justify="left")
    table.add_column("Check")
    table.add_column("Result")
    table.add_column("Reason", overflow="fold")
    for check in report.checks:
        reason = check.reason + (f" [{check.error_code}]" if check.error_code else "")
        if check.outcome is Outcome.FAILED and check.details:
            reason += "".join(f"\n  • {line}" for line in check.details[:10])
        reason += "".join(f"\n  warning: {line}" for line in check.warnings)
        style = _STYLES[check.outcome]
        table.add_row(check.name, f"[{style}]{check.outcome.value}[/]", escape(reason))
    console.print(table)
    verdict = "[bold green]VERIFIED[/]" if report.verified else "[bold red]NOT VERIFIED[/]"
    console.print(f"{verdict} at {report.checked_at.isoformat()}")


def verify(
    file: Annotated[Path, typer.Argument(help="Credential JSON file, or - for standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    status_list: Annotated[
        list[Path] | None,
        typer.Option("--status-list", help="A status list credential file (repeatable)."),
    ] = None,
    did_document: Annotated[
        list[Path] | None,
        typer.Option("--did-document", help="An issuer DID/controller document file (repeatable)."),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Check validity at this dateTime instead of now.")
    ] = None,
    resolve: Annotated[
        bool,
        typer.Option("--resolve", help="Fetch did:web documents and status lists over HTTPS."),
    ] = False,
    map_host: Annotated[
        list[str] | None,
        typer.Option(
            "--map-host",
            help="With --resolve: fetch a host from another base URL, e.g. "
            "localhost%3A8001=http://127.0.0.1:8001 (repeatable).",
        ),
    ] = None,
) -> None:
    """Verify a credential; exit 0 only when every check passes.

    Offline by default (did:key issuers, and the files given); with --resolve, did:web
    documents and status list credentials are fetched as a verifier would.
    """
    credential = _read_json(file)
    status_lists = _by_id(status_list or [], "status list credential")
    documents = _by_id(did_document or [], "DID document")
    if resolve:
        try:
            hosts = parse_host_map(map_host or [])
        except ValueError as error:
            typer.echo(f"credreg: --map-host: {error}", err=True)
            raise typer.Exit(code=2) from None
        material = asyncio.run(_fetch(credential, hosts))
        for problem in material.problems:
            typer.echo(f"credreg: could not fetch {problem}", err=True)
        status_lists = {**material.status_list_credentials, **status_lists}
        documents = {**material.controller_documents, **documents}
    report = verify_credential(
        credential,
        status_list_credentials=status_lists,
        controller_documents=documents,
        now=_parse_at(at),
    )
    if as_json:
        typer.echo(json.dumps(report.to_json_dict(), indent=2))
    else:
        # No emoji codes: DIDs such as did:key:… would otherwise print as pictures.
        render_report(report, Console(emoji=False))
    raise typer.Exit(code=0 if report.verified else 1)


TRANSPORT: httpx.AsyncBaseTransport | None = None
"""Where --resolve's requests go instead of the network (tests put an app here)."""


async def _fetch(credential: Any, hosts: dict[str, str]) -> VerificationMaterial:
    async with httpx.AsyncClient(transport=TRANSPORT, timeout=10) as client:
        return await MaterialFetcher(client, host_map=hosts).fetch_for(credential)
