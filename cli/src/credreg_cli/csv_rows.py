"""A registrar's CSV of credentials as issuance commands, each row checked by the issuer's rules."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from credreg_shared.issuance import IssuanceError, IssueCredential, validate_command, window_errors

MAX_CSV_BYTES = 20 * 1024 * 1024
"""The largest CSV accepted (20 MiB): larger files are refused before they are read."""
MAX_KEY_LENGTH = 200
"""The issuer's limit on an idempotency key."""

COLUMNS: dict[str, str] = {
    "holder_id": "the learner: a DID (did:key:…) or an id such as an e-mail or student number",
    "achievement_name": "the achievement's name",
    "achievement_description": "what the learner achieved",
    "achievement_type": "an Open Badges 3.0 achievement type or ext:Name (MicroCredential)",
    "competencies": "';'-separated, each name, name|code or name|code|framework_url",
    "hours": "the notional learning hours, e.g. 12.5",
    "delivery_mode": "online, in_person or blended",
    "valid_from": "RFC 3339 with an offset, or a bare date (midnight UTC)",
    "valid_until": "RFC 3339 with an offset, or a bare date (midnight UTC)",
    "assessment": "how learners were assessed",
    "assessment_type": "the kind of assessment, e.g. Exam or Portfolio",
    "accreditor_id": "the accrediting body's URL or DID",
    "accreditor_name": "the accrediting body's name",
    "accreditation_url": "the program's record at the accreditor",
    "industry_partners": "';'-separated, each id or id|name",
}
REQUIRED = ("holder_id", "achievement_name", "competencies")
DELIMITERS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# Where an IssuanceError's dotted field comes from in the CSV (list indexes written as `*`).
FIELD_COLUMNS = {
    "holder_id": "holder_id",
    "achievement.name": "achievement_name",
    "achievement.description": "achievement_description",
    "achievement.achievement_type": "achievement_type",
    "achievement.competencies": "competencies",
    "achievement.hours": "hours",
    "achievement.delivery_mode": "delivery_mode",
    "achievement.assessment": "assessment",
    "achievement.assessment.description": "assessment",
    "achievement.assessment.type": "assessment_type",
    "achievement.accreditations": "accreditor_id",
    "achievement.accreditations.*.accreditor": "accreditor_id",
    "achievement.accreditations.*.accreditor.id": "accreditor_id",
    "achievement.accreditations.*.accreditor.name": "accreditor_name",
    "achievement.accreditations.*.url": "accreditation_url",
    "achievement.industry_partners": "industry_partners",
    "valid_from": "valid_from",
    "valid_until": "valid_until",
}
LIST_ITEMS = {"competencies": "competency", "industry_partners": "partner"}


class CsvFileError(Exception):
    """The file as a whole cannot be read as a credentials CSV (one line, for the user)."""


@dataclass(frozen=True)
class Row:
    """One valid row: its line in the file, its idempotency key and the command it asks for."""

    line: int
    key: str
    credential: dict[str, Any]


@dataclass(frozen=True)
class RowError:
    """Why one row cannot be issued: its line, the CSV column (None: the row) and a message."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.message}"


@dataclass
class CsvRows:
    """The rows of a file: the valid ones in file order, and every row error."""

    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    count: int = 0
    """How many data rows the file has (valid or not)."""
    late: list[RowError] = field(default_factory=list)
    """Valid rows (also in `rows`) whose `valid_until` has passed, without `valid_from`. The
    issuer refuses them unless their key issued a credential before (a resumed run), which only
    it knows: a real run sends them, `--dry-run` reports them as errors."""


def delimiter_of(option: str) -> str:
    """The delimiter an option names: one character, or `tab` / `\\t`."""
    if option.lower() in {"tab", "\\t"}:
        return "\t"
    if len(option) != 1 or option in {'"', "\r", "\n"}:
        raise CsvFileError(f"--delimiter must be one character or 'tab', not {option!r}")
    return option


def read_rows(
    path: Path,
    *,
    delimiter: str = ",",
    key_column: str | None = None,
    now: datetime | None = None,
) -> CsvRows:
    """Every row of the file checked and mapped; `CsvFileError` when the file itself is wrong.

    `now` (default: the current time) decides which rows are `late`.
    """
    now = now or datetime.now(UTC)
    text = _text(path)
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(records, None)
        if header is None:
            raise CsvFileError("the file is empty: it needs a header row and at least one row")
        columns = _columns(header, delimiter, key_column)
        found = CsvRows()
        seen: dict[str, int] = {}
        line = records.line_num + 1
        for cells in records:
            # A row that spans lines (a quoted line break) is named by its first line.
            row_line, line = line, records.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue  # blank lines and spreadsheets' empty rows
            found.count += 1
            _check_row(row_line, cells, columns, key_column, seen, found, now)
    except csv.Error as error:
        raise CsvFileError(f"line {records.line_num}: {error}") from None
    if found.count == 0:
        raise CsvFileError("no data rows: the file has a header and nothing under it")
    return found


def locate(field: str, message: str = "", key_column: str | None = None) -> tuple[str | None, str]:
    """The CSV column an issuance error's field comes from, and which item of a list cell."""
    parts = field.split(".") if field else []
    if parts[:1] == ["items"] and len(parts) > 2:  # an error on the batch body
        parts = parts[2:]
    if parts[:1] == ["credential"]:
        parts = parts[1:]
    if parts == ["idempotency_key"]:
        return key_column, ""
    if not parts:  # the model's own checks: only the validity window today
        return ("valid_until" if "valid_until" in message else None), ""
    if len(parts) > 2 and parts[0] == "achievement" and parts[2].isdigit():
        item = LIST_ITEMS.get(parts[1])
        if item:
            return parts[1], " ".join([f"{item} {int(parts[2]) + 1}", *parts[3:4]])
    pattern = ".".join("*" if part.isdigit() else part for part in parts)
    while pattern:
        if pattern in FIELD_COLUMNS:
            return FIELD_COLUMNS[pattern], ""
        pattern = pattern.rpartition(".")[0]
    return None, ""


def row_errors(
    line: int, errors: Iterable[IssuanceError], key_column: str | None = None
) -> list[RowError]:
    """Issuance errors as row errors naming the CSV column, one per column and message."""
    found: list[RowError] = []
    for error in errors:
        column, item = locate(error.field, error.message, key_column)
        message = _friendly(column, error.message)
        message = f"{item}: {message}" if item else message
        if column is None and error.field and error.field != "idempotency_key":
            message = f"{error.field}: {message}"
        found.append(RowError(line, column, message))
    return list(dict.fromkeys(found))


def _text(path: Path) -> str:
    try:
        if path.is_file() and path.stat().st_size > MAX_CSV_BYTES:
            raise CsvFileError(_too_big(path.stat().st_size))
        with path.open("rb") as file:
            data = file.read(MAX_CSV_BYTES + 1)  # a pipe has no size to check beforehand
    except FileNotFoundError:
        raise CsvFileError("no such file") from None
    except IsADirectoryError:
        raise CsvFileError("is a directory, not a CSV file") from None
    except OSError as error:
        raise CsvFileError(f"cannot read it: {error.strerror or error}") from None
    if len(data) > MAX_CSV_BYTES:
        raise CsvFileError(_too_big(None))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise CsvFileError(
            f"line {line} is not UTF-8 (byte 0x{data[error.start]:02x}); "
            "save the file as 'CSV UTF-8'"
        ) from None


def _too_big(size: int | None) -> str:
    limit = f"{MAX_CSV_BYTES // (1024 * 1024)} MiB"
    of = f" ({size / (1024 * 1024):.1f} MiB)" if size is not None else ""
    return f"the file is larger than {limit}{of}; split it into several files"


def _columns(header: list[str], delimiter: str, key_column: str | None) -> list[str]:
    """The header's column names, normalized, or why the header is wrong."""
    names = [name.strip().lower() for name in header]
    if len(names) == 1:
        other = next((d for d in DELIMITERS if d != delimiter and d in header[0]), None)
        if other is not None:
            shown = DELIMITERS[other]
            raise CsvFileError(
                f"the header has one column; is the file separated by {shown}? "
                f"use --delimiter {shown}"
            )
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        if name:
            positions.setdefault(name, []).append(position)
    twice = {name: at for name, at in positions.items() if len(at) > 1}
    if twice:
        raise CsvFileError(
            "the header names a column more than once: "
            + ", ".join(f"{n} (columns {' and '.join(map(str, at))})" for n, at in twice.items())
        )
    if key_column is not None and key_column not in positions:
        raise CsvFileError(f"--key-column {key_column} is not a column of the header")
    unknown = [name for name in positions if name not in COLUMNS and name != key_column]
    if unknown:
        raise CsvFileError(
            f"unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
            f"(the columns are {', '.join(COLUMNS)}; or name a key column with --key-column)"
        )
    missing = [name for name in REQUIRED if name not in positions]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise CsvFileError(f"missing required column{plural}: {', '.join(missing)}")
    return names


def _check_row(
    line: int,
    cells: list[str],
    columns: list[str],
    key_column: str | None,
    seen: dict[str, int],
    found: CsvRows,
    now: datetime,
) -> None:
    """Map, validate and key one row: a `Row`, or its errors, into `found`."""
    if any(cell.strip() for cell in cells[len(columns) :]):
        message = (
            f"{len(cells)} cells but the header has {len(columns)} columns "
            "(is a cell containing the delimiter not quoted?)"
        )
        found.errors.append(RowError(line, None, message))
        return
    errors = [
        RowError(line, None, f"a value in column {position}, which has no name in the header")
        for position, (name, cell) in enumerate(zip(columns, cells, strict=False), start=1)
        if not name and cell.strip()
    ]
    values = {name: cell.strip() for name, cell in zip(columns, cells, strict=False) if name}
    values = {name: value for name, value in values.items() if value}  # empty cells: absent
    key = values.get(key_column, "") if key_column else None
    if key_column is not None:
        if not key:
            errors.append(RowError(line, key_column, "the key is empty"))
        elif len(key) > MAX_KEY_LENGTH:
            errors.append(RowError(line, key_column, f"longer than {MAX_KEY_LENGTH} characters"))
    data, mapping_errors = _command(values)
    errors += [RowError(line, column, message) for column, message in mapping_errors]
    command = validate_command(data)
    if isinstance(command, list):
        # A cell already reported (a malformed item) need not also be reported as empty.
        told = {column for column, _ in mapping_errors}
        errors += [e for e in row_errors(line, command, key_column) if e.column not in told]
    if errors or not isinstance(command, IssueCredential):
        found.errors.extend(dict.fromkeys(errors))
        return
    credential = command.model_dump(mode="json", exclude_none=True)
    if key is None:
        canonical = json.dumps(credential, sort_keys=True, separators=(",", ":"))
        key = "csv:" + hashlib.sha256(canonical.encode()).hexdigest()
    earlier = seen.setdefault(key, line)
    if earlier != line:
        if key_column is None:
            message = f"the same credential as line {earlier}; add a key column to issue both"
        else:
            message = f"the key {key!r} is also on line {earlier}; keys must be unique"
        found.errors.append(RowError(line, key_column, message))
        return
    found.rows.append(Row(line, key, credential))
    found.late += row_errors(line, window_errors(command, now=now), key_column)


def _command(values: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The IssueCredential JSON a row's cells ask for (absent cells left out), and cell errors."""
    errors: list[tuple[str, str]] = []
    achievement: dict[str, Any] = {}
    for column, name in (
        ("achievement_name", "name"),
        ("achievement_description", "description"),
        ("achievement_type", "achievement_type"),
        ("hours", "hours"),
        ("delivery_mode", "delivery_mode"),
    ):
        if column in values:
            achievement[name] = values[column]
    competencies = []
    for position, parts in enumerate(_items(values.get("competencies", "")), start=1):
        if len(parts) > 3:
            message = f"competency {position} has more than 3 '|' parts (name|code|framework_url)"
            errors.append(("competencies", message))
            continue
        competencies.append(_present(zip(("name", "code", "framework_url"), parts, strict=False)))
    if competencies:
        achievement["competencies"] = competencies
    if "assessment" in values:
        assessment = {"description": values["assessment"]}
        achievement["assessment"] = assessment | _present([("type", values.get("assessment_type"))])
    elif "assessment_type" in values:
        errors.append(("assessment", "required when assessment_type is given"))
    if "accreditor_id" in values:
        accreditor = _present(
            [("id", values["accreditor_id"]), ("name", values.get("accreditor_name"))]
        )
        achievement["accreditations"] = [
            {"accreditor": accreditor} | _present([("url", values.get("accreditation_url"))])
        ]
    else:
        errors += [
            ("accreditor_id", f"required when {column} is given")
            for column in ("accreditor_name", "accreditation_url")
            if column in values
        ]
    partners = []
    for position, parts in enumerate(_items(values.get("industry_partners", "")), start=1):
        if len(parts) > 2:
            message = f"partner {position} has more than 2 '|' parts (id|name)"
            errors.append(("industry_partners", message))
            continue
        partners.append(_present(zip(("id", "name"), parts, strict=False)))
    if partners:
        achievement["industry_partners"] = partners
    data: dict[str, Any] = {"achievement": achievement}
    if "holder_id" in values:
        data["holder_id"] = values["holder_id"]
    for column in ("valid_from", "valid_until"):
        if column in values:
            value = values[column]
            data[column] = f"{value}T00:00:00Z" if BARE_DATE.fullmatch(value) else value
    return data, errors


def _items(cell: str) -> list[list[str]]:
    """A list cell: `;`-separated items, each `|`-separated parts (empty items skipped)."""
    return [[part.strip() for part in item.split("|")] for item in cell.split(";") if item.strip()]


def _present(pairs: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    return {name: value for name, value in pairs if value}


def _friendly(column: str | None, message: str) -> str:
    """Pydantic's message, said in the CSV's terms where it would puzzle a registrar."""
    message = message.removeprefix("Value error, ")
    if message == "Field required":
        return "required, but the cell is empty"
    if column == "achievement_type":
        # Two errors, one per branch of the union, each listing every type: one message instead.
        return (
            "not an Open Badges 3.0 achievement type (e.g. MicroCredential, Certificate, "
            "Course) nor an extension ext:Name"
        )
    if message == "Input should have timezone info":
        return "needs a UTC offset, e.g. 2027-06-30T09:00:00+02:00 or 2027-06-30T07:00:00Z"
    return message
