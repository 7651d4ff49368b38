"""Reading a registrar's CSV: columns, line numbers, keys and the mapping of errors to columns."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from credreg_cli.csv_rows import CsvFileError, RowError, delimiter_of, locate, read_rows
from credreg_shared.issuance import IssuanceError

HEADER = "holder_id,achievement_name,competencies"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_header_names_ignore_case_and_spaces_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(
        b"\xef\xbb\xbf Holder_ID ,ACHIEVEMENT_NAME,Competencies \r\ns1,Welding,Arc\r\n"
    )

    found = read_rows(path)

    assert found.errors == []
    assert found.rows[0].credential["holder_id"] == "s1"
    assert found.rows[0].line == 2


def test_lines_count_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    text = (
        "holder_id,achievement_name,achievement_description,competencies\n"
        's1,Welding,"two\nlines",Arc\n'
        "\n"
        ",,,\n"
        "s2,,,Arc\n"
    )

    found = read_rows(write(tmp_path, text))

    assert found.count == 2
    assert found.rows[0].credential["achievement"]["description"] == "two\nlines"
    assert found.errors == [RowError(6, "achievement_name", "required, but the cell is empty")]


def test_cells_map_to_the_issuance_command(tmp_path: Path) -> None:
    text = (
        "holder_id,achievement_name,competencies,industry_partners,valid_from,valid_until,"
        "accreditor_id,accreditation_url,hours\n"
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK,Welding,"
        "Arc| A1 |https://skills.example/arc; ;TIG,https://a.example|Acme;https://b.example,"
        "2027-06-30,2028-01-01T09:30:00+02:00,https://acc.example,https://acc.example/p/1,"
        "7.50\n"
    )

    credential = read_rows(write(tmp_path, text)).rows[0].credential

    achievement = credential["achievement"]
    assert achievement["competencies"] == [
        {"name": "Arc", "code": "A1", "framework_url": "https://skills.example/arc"},
        {"name": "TIG"},
    ]
    assert achievement["industry_partners"] == [
        {"id": "https://a.example", "name": "Acme"},
        {"id": "https://b.example"},
    ]
    assert achievement["accreditations"] == [
        {"accreditor": {"id": "https://acc.example"}, "url": "https://acc.example/p/1"}
    ]
    assert achievement["hours"] == "7.50"
    assert credential["valid_from"] == "2027-06-30T00:00:00Z"  # a bare date: midnight UTC
    assert credential["valid_until"] == "2028-01-01T09:30:00+02:00"


def test_the_key_is_the_digest_of_the_normalized_command(tmp_path: Path) -> None:
    found = read_rows(write(tmp_path, f"{HEADER},hours\ns1,Welding,Arc,2.0\n"))

    row = found.rows[0]
    canonical = json.dumps(row.credential, sort_keys=True, separators=(",", ":"))
    assert row.key == "csv:" + hashlib.sha256(canonical.encode()).hexdigest()
    spaced = read_rows(write(tmp_path, f"{HEADER},hours\n s1 ,Welding , Arc ,2.0\n"))
    assert spaced.rows[0].key == row.key


def test_cells_the_model_cannot_see_are_errors_of_their_column(tmp_path: Path) -> None:
    text = (
        f"{HEADER},accreditor_name,assessment_type,industry_partners,\n"
        "s1,Welding,Arc|a|https://x.example|extra,Body,Exam,a|b|c,\n"
        "s2,Welding,Arc,,,,stray\n"
        "s3,Welding,Arc,,,,,,too many\n"
    )

    errors = [str(e) for e in read_rows(write(tmp_path, text)).errors]

    assert errors == [
        "line 2, column competencies: competency 1 has more than 3 '|' parts "
        "(name|code|framework_url)",
        "line 2, column assessment: required when assessment_type is given",
        "line 2, column accreditor_id: required when accreditor_name is given",
        "line 2, column industry_partners: partner 1 has more than 2 '|' parts (id|name)",
        "line 3: a value in column 7, which has no name in the header",
        "line 4: 9 cells but the header has 7 columns (is a cell containing the delimiter "
        "not quoted?)",
    ]


@pytest.mark.parametrize(
    ("field", "message", "column", "item"),
    [
        ("holder_id", "", "holder_id", ""),
        ("achievement.name", "", "achievement_name", ""),
        ("achievement.competencies", "", "competencies", ""),
        (
            "achievement.competencies.2.framework_url",
            "",
            "competencies",
            "competency 3 framework_url",
        ),
        ("achievement.industry_partners.0", "", "industry_partners", "partner 1"),
        ("achievement.accreditations.0.accreditor.name", "", "accreditor_name", ""),
        ("achievement.accreditations.0.url", "", "accreditation_url", ""),
        ("achievement.assessment.type", "", "assessment_type", ""),
        ("achievement.achievement_type.constrained-str", "", "achievement_type", ""),
        ("", "Value error, valid_until must be after valid_from", "valid_until", ""),
        ("", "something else", None, ""),
        ("items.4.credential.valid_from", "", "valid_from", ""),
        ("credential.achievement.hours", "", "hours", ""),
        ("credential", "Value error, valid_until must be after valid_from", "valid_until", ""),
        ("idempotency_key", "", None, ""),
    ],
)
def test_issuance_fields_locate_their_csv_column(
    field: str, message: str, column: str | None, item: str
) -> None:
    assert locate(field, message) == (column, item)


def test_a_key_error_names_the_key_column() -> None:
    assert locate("idempotency_key", "", "ref") == ("ref", "")


def test_an_unknown_field_keeps_its_path_in_the_message() -> None:
    from credreg_cli.csv_rows import row_errors

    found = row_errors(7, [IssuanceError(field="signature", message="bad")])

    assert [str(e) for e in found] == ["line 7: signature: bad"]


@pytest.mark.parametrize(
    ("option", "delimiter"), [(",", ","), (";", ";"), ("tab", "\t"), ("\\t", "\t")]
)
def test_delimiters(option: str, delimiter: str) -> None:
    assert delimiter_of(option) == delimiter


@pytest.mark.parametrize("option", ["", ";;", '"'])
def test_a_delimiter_is_one_character(option: str) -> None:
    with pytest.raises(CsvFileError, match="--delimiter"):
        delimiter_of(option)


def test_a_semicolon_file_reads_with_its_delimiter(tmp_path: Path) -> None:
    found = read_rows(
        write(tmp_path, "holder_id;achievement_name;competencies\ns1;Welding;Arc|A1\n"),
        delimiter=";",
    )

    assert found.rows[0].credential["achievement"]["competencies"] == [
        {"name": "Arc", "code": "A1"}
    ]
