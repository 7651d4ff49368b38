"""`credreg issue --csv FILE`: check every row of a registrar's CSV, then issue it in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from credreg_shared.issuance import IssuanceError

from .csv_rows import CsvFileError, Row, RowError, delimiter_of, read_rows, row_errors

DEFAULT_URL = "http://127.0.0.1:8001"
MAX_BATCH = 10_000
"""The issuer's limit on the items of one batch."""
MAX_SHOWN = 50
"""Row errors printed at most; the rest are counted."""
POLL_SECONDS = 0.3
PAGE = 1000
INTERRUPTED = "interrupted: run the same command again to resume; nothing is issued twice"
LATE = (
    "{rows} row{s} with a valid_until that has passed: the issuer accepts such a row only if an "
    "earlier run issued it (then with that credential), and rejects it otherwise"
)

TRANSPORT: httpx.AsyncBaseTransport | None = None
"""Where requests go instead of the network (tests put a fake issuer here)."""


class _Refused(Exception):
    """The issuer answered with an error status, or with something that is not a batch."""

    def __init__(self, response: httpx.Response, unexpected: bool = False) -> None:
        super().__init__(response.status_code)
        self.response = response
        self.unexpected = unexpected


@dataclass
class _Outcome:
    """What the issuer did with the rows sent so far."""

    accepted: int = 0
    batches: int = 0
    rejected: list[RowError] = field(default_factory=list)
    rejected_rows: int = 0


class _RateColumn(ProgressColumn):
    """Rows per second (Rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")


def issue(
    csv_file: Annotated[
        Path,
        typer.Option(
            "--csv",
            metavar="FILE",
            help="The CSV file: a header row, one credential a row (docs/csv-import.md).",
        ),
    ],
    institution: Annotated[
        str | None,
        typer.Option(
            "--institution",
            metavar="DID",
            envvar="CREDREG_INSTITUTION",
            help="The issuing institution's DID (or CREDREG_INSTITUTION).",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            envvar="CREDREG_API_KEY",
            help="The institution's API key with the issue scope (or CREDREG_API_KEY).",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", envvar="CREDREG_ISSUER_URL", help="The issuer's base URL.")
    ] = DEFAULT_URL,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and send nothing.")
    ] = False,
    key_column: Annotated[
        str | None,
        typer.Option(
            "--key-column",
            metavar="NAME",
            help="A column with a unique key per row (else each row's content is its key).",
            show_default=False,
        ),
    ] = None,
    delimiter: Annotated[
        str, typer.Option("--delimiter", help="The column separator: one character, or tab.")
    ] = ",",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=MAX_BATCH, help="Rows per batch request.")
    ] = 1000,
) -> None:
    """Issue a credential for every row of a CSV file; run it again to resume after a failure."""
    try:
        _issue(csv_file, institution, api_key, url, dry_run, key_column, delimiter, batch_size)
    except KeyboardInterrupt:
        typer.echo(f"\n{INTERRUPTED}", err=True)
        raise typer.Exit(code=130) from None


def _issue(
    csv_file: Path,
    institution: str | None,
    api_key: str | None,
    url: str,
    dry_run: bool,
    key_column: str | None,
    delimiter: str,
    batch_size: int,
) -> None:
    try:
        column = key_column.strip().lower() if key_column is not None else None
        found = read_rows(csv_file, delimiter=delimiter_of(delimiter), key_column=column)
    except CsvFileError as error:
        typer.echo(f"credreg: {csv_file}: {error}", err=True)
        raise typer.Exit(code=2) from None
    # Whether a late row was issued before only the issuer knows: a dry run reports it (it
    # would be refused, unless an earlier run issued it); a real run sends it and lets the
    # issuer decide, so that resuming after a valid_until passed still completes.
    errors = found.errors + (found.late if dry_run else [])
    if errors:
        _print_errors(errors)
        invalid = len({error.line for error in errors})
        typer.echo(f"{invalid} of {found.count} rows invalid; nothing was sent", err=True)
        if dry_run and found.late:
            typer.echo(f"note: {_late(found.late)}", err=True)
        raise typer.Exit(code=1)
    if dry_run:
        typer.echo(f"{len(found.rows)} rows valid (dry run: nothing was sent)")
        return
    if not institution or not api_key:
        option = (
            "--institution (or CREDREG_INSTITUTION)"
            if not institution
            else "--api-key (or CREDREG_API_KEY)"
        )
        typer.echo(f"credreg: {option} is needed to issue (or use --dry-run)", err=True)
        raise typer.Exit(code=2)
    if found.late:
        typer.echo(f"note: sending {_late(found.late)}", err=True)
    batches = [found.rows[i : i + batch_size] for i in range(0, len(found.rows), batch_size)]
    outcome = _Outcome()
    try:
        asyncio.run(_send(url, api_key, institution, batches, column, outcome))
    except _Refused as refused:
        _report_refusal(refused, institution, outcome, len(batches))
        raise typer.Exit(code=1) from None
    except httpx.HTTPError as error:
        typer.echo(f"credreg: cannot reach the issuer at {url}: {error}", err=True)
        raise typer.Exit(code=2) from None
    _print_summary(len(found.rows), outcome)
    raise typer.Exit(code=1 if outcome.rejected_rows else 0)


async def _send(
    url: str,
    api_key: str,
    institution: str,
    batches: list[list[Row]],
    key_column: str | None,
    outcome: _Outcome,
) -> None:
    """Each batch in turn: post it, poll it until done, collect its rejected items."""
    base = url.rstrip("/") + "/v1/credential-batches"
    headers = {"Authorization": f"Bearer {api_key}"}
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    total = sum(len(batch) for batch in batches)
    async with httpx.AsyncClient(transport=TRANSPORT, timeout=60, headers=headers) as client:
        with progress:
            task = progress.add_task("issuing", total=total)

            def advance(view: dict[str, Any]) -> None:
                counts = view.get("counts") or {}
                done = int(counts.get("accepted", 0)) + int(counts.get("rejected", 0))
                progress.update(task, completed=outcome.accepted + outcome.rejected_rows + done)

            for batch in batches:
                await _send_batch(client, base, institution, batch, key_column, outcome, advance)
                progress.update(task, completed=outcome.accepted + outcome.rejected_rows)


async def _send_batch(
    client: httpx.AsyncClient,
    base: str,
    institution: str,
    batch: list[Row],
    key_column: str | None,
    outcome: _Outcome,
    advance: Callable[[dict[str, Any]], None],
) -> None:
    """Post one batch, poll it until the issuer is done with it, then record its results."""
    body = {
        "institution": institution,
        "items": [{"idempotency_key": row.key, "credential": row.credential} for row in batch],
    }
    view = _json(await client.post(base, json=body))
    where = f"{base}/{quote(str(view['id']), safe='')}"
    while view.get("status") != "done":
        advance(view)
        await asyncio.sleep(POLL_SECONDS)
        view = _json(await client.get(where, params={"offset": 0, "limit": PAGE}))
    # The results page by page from the first (a POST's answer may carry none of them).
    offset: int | None = 0
    while offset is not None:
        page = _json(await client.get(where, params={"offset": offset, "limit": PAGE}))
        for result in page.get("results") or []:
            _record(result, batch, key_column, outcome)
        offset = page.get("next_offset")
    outcome.batches += 1


def _record(
    result: dict[str, Any], batch: list[Row], key_column: str | None, outcome: _Outcome
) -> None:
    """One item's result: counted, and for a rejected one its errors on its CSV line."""
    status = result.get("status")
    if status == "accepted":
        outcome.accepted += 1
        return
    index = result.get("index")
    line = batch[index].line if isinstance(index, int) and 0 <= index < len(batch) else 0
    outcome.rejected_rows += 1
    if status != "rejected":
        outcome.rejected.append(RowError(line, None, f"not issued ({status}); run again"))
        return
    errors = [
        IssuanceError(field=str(e.get("field") or ""), message=str(e.get("message") or ""))
        for e in result.get("errors") or []
        if isinstance(e, dict)
    ] or [IssuanceError(field="", message="rejected by the issuer")]
    outcome.rejected.extend(row_errors(line, errors, key_column))


def _json(response: httpx.Response) -> dict[str, Any]:
    """A batch view, or `_Refused`."""
    if response.status_code >= 400:
        raise _Refused(response)
    try:
        answer = response.json()
    except ValueError:
        raise _Refused(response, unexpected=True) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
        raise _Refused(response, unexpected=True)
    return answer


def _problem(response: httpx.Response) -> str:
    """A problem+json answer in one line: its detail, then its errors."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:500]
    if not isinstance(problem, dict):
        return str(problem)[:500]
    detail = str(problem.get("detail") or problem.get("title") or "")
    lines = []
    for error in problem.get("errors") or []:
        if isinstance(error, dict):
            where = error.get("field") or ".".join(str(p) for p in error.get("loc", []))
            lines.append(f"{where}: {error.get('message') or error.get('msg')}")
    return "; ".join([detail, *lines]) if lines else detail


HINTS = {
    401: "the issuer does not know this API key (--api-key or CREDREG_API_KEY), or it was revoked",
    403: "the API key belongs to another institution than --institution {institution}, "
    "or lacks the issue scope",
    413: "the batch is too large for the issuer: use a smaller --batch-size",
}


def _report_refusal(refused: _Refused, institution: str, outcome: _Outcome, batches: int) -> None:
    response = refused.response
    if refused.unexpected:
        what = f"not a credential batch: {response.text[:200]}"
        typer.echo(f"credreg: {response.status_code} from the issuer, {what}", err=True)
    else:
        typer.echo(f"credreg: {response.status_code} {_problem(response)}", err=True)
    hint = HINTS.get(response.status_code)
    if hint and not refused.unexpected:
        typer.echo(f"hint: {hint.format(institution=institution)}", err=True)
    if outcome.batches:
        typer.echo(
            f"{outcome.batches} of {batches} batches were done before this; run the same "
            "command again to resume (nothing is issued twice)",
            err=True,
        )


def _late(late: list[RowError]) -> str:
    rows = len({error.line for error in late})
    return LATE.format(rows=rows, s="" if rows == 1 else "s")


def _print_errors(errors: list[RowError]) -> None:
    ordered = sorted(errors, key=lambda error: error.line)
    for error in ordered[:MAX_SHOWN]:
        typer.echo(str(error), err=True)
    if len(ordered) > MAX_SHOWN:
        typer.echo(f"… and {len(ordered) - MAX_SHOWN} more errors", err=True)


def _print_summary(rows: int, outcome: _Outcome) -> None:
    table = Table(title="credreg issue", title_justify="left")
    for column in ("rows", "accepted", "rejected", "batches"):
        table.add_column(column, justify="right")
    table.add_row(
        *(str(n) for n in (rows, outcome.accepted, outcome.rejected_rows, outcome.batches))
    )
    Console().print(table)
    if outcome.rejected:
        typer.echo("rejected by the issuer:", err=True)
        _print_errors(outcome.rejected)
