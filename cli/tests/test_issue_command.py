"""`credreg issue --csv` against a fake of the issuer's batch API, and once against the real one."""

from __future__ import annotations

import csv
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from credreg_cli import institutions_command, issue_command
from credreg_cli.csv_rows import MAX_CSV_BYTES
from credreg_cli.main import app
from credreg_issuer.adapters.fakes import in_memory_adapters
from credreg_issuer.batch_issuance import IssueBatches
from credreg_issuer.bootstrap import build_app
from credreg_issuer.settings import IssuerSettings
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.events import CREDENTIALS_TOPIC
from credreg_shared.issuance import IssueCredential, validate_command
from credreg_shared.messaging import InMemoryPublisher

SAMPLE = Path(__file__).parents[2] / "docs" / "samples" / "credentials.csv"
DID = "did:web:issuer.example:institutions:northbridge"
OTHER = "did:web:issuer.example:institutions:southgate"
KEY = "crk_northbridge"
runner = CliRunner()


@dataclass
class FakeIssuer:
    """The contract of POST/GET /v1/credential-batches, in memory."""

    polls_before_done: int = 0
    keys: dict[str, str] = field(default_factory=lambda: {KEY: DID, "crk_southgate": OTHER})
    credentials: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """(institution, idempotency key) → (digest of the command, credential id)."""
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    refuse_holders: set[str] = field(default_factory=set)
    interrupt_after_posts: int | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        institution = self.keys.get(
            request.headers.get("authorization", "").removeprefix("Bearer ")
        )
        if institution is None:
            return problem(401, "unknown API key")
        path = request.url.path
        if request.method == "POST" and path == "/v1/credential-batches":
            if self.interrupt_after_posts is not None:
                if len(self.posts) >= self.interrupt_after_posts:
                    raise KeyboardInterrupt
            return self.post(institution, json.loads(request.content))
        prefix = "/v1/credential-batches/"
        if request.method == "GET" and path.startswith(prefix):
            batch = self.batches.get(path.removeprefix(prefix))
            if batch is None or batch["institution"] != institution:
                return problem(404, "no such batch")
            batch["polls"] += 1
            if batch["status"] != "done" and batch["polls"] > self.polls_before_done:
                self.process(batch)
            offset = int(request.url.params.get("offset", 0))
            limit = int(request.url.params.get("limit", 1000))
            return httpx.Response(200, json=view(batch, offset, limit))
        return problem(404, "not found")

    def post(self, institution: str, body: dict[str, Any]) -> httpx.Response:
        if body.get("institution", institution) != institution:
            return problem(403, "the API key belongs to another institution")
        items = body["items"]
        keys = [item["idempotency_key"] for item in items]
        if not 1 <= len(items) <= 10_000 or len(set(keys)) != len(keys):
            return problem(422, "1 to 10,000 items with unique keys")
        self.posts.append(body)
        batch_id = f"batch-{len(self.batches) + 1}"
        batch = {"id": batch_id, "institution": institution, "items": items, "polls": 0}
        batch |= {"status": "pending", "results": [pending(i, k) for i, k in enumerate(keys)]}
        self.batches[batch_id] = batch
        if self.polls_before_done == 0:
            self.process(batch)
        return httpx.Response(
            202,
            json=view(batch, 0, 1000),
            headers={"Location": f"/v1/credential-batches/{batch_id}"},
        )

    def process(self, batch: dict[str, Any]) -> None:
        batch["results"] = [
            self.issue(batch["institution"], i, item) for i, item in enumerate(batch["items"])
        ]
        batch["status"] = "done"

    def issue(self, institution: str, index: int, item: dict[str, Any]) -> dict[str, Any]:
        key = item["idempotency_key"]
        command = validate_command(item["credential"])
        if not isinstance(command, IssueCredential):
            return rejected(index, key, [e.model_dump() for e in command])
        if command.holder_id in self.refuse_holders:
            return rejected(index, key, [{"field": "holder_id", "message": "holder is blocked"}])
        digest = command.digest()
        known = self.credentials.get((institution, key))
        if known is not None and known[0] != digest:
            error = {
                "field": "idempotency_key",
                "message": "this key was used before for a different credential",
            }
            return rejected(index, key, [error])
        if known is None:
            credential_id = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, institution + key)}"
            known = self.credentials[(institution, key)] = (digest, credential_id)
        result = {"index": index, "idempotency_key": key, "status": "accepted"}
        return result | {"credential_id": known[1], "errors": []}

    def sent(self) -> list[dict[str, Any]]:
        """Every item posted, in order."""
        return [item for body in self.posts for item in body["items"]]


def pending(index: int, key: str) -> dict[str, Any]:
    return {"index": index, "idempotency_key": key, "status": "pending", "credential_id": None}


def rejected(index: int, key: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    result = {"index": index, "idempotency_key": key, "status": "rejected"}
    return result | {"credential_id": None, "errors": errors}


def view(batch: dict[str, Any], offset: int, limit: int) -> dict[str, Any]:
    results = batch["results"]
    statuses = [r["status"] for r in results]
    counts = {s: statuses.count(s) for s in ("accepted", "rejected", "pending")}
    following = offset + limit
    return {
        "id": batch["id"],
        "institution": batch["institution"],
        "status": batch["status"],
        "created_at": "2025-11-03T10:00:00Z",
        "finished_at": "2025-11-03T10:00:01Z" if batch["status"] == "done" else None,
        "counts": {"total": len(results), **counts},
        "results": [r | {"errors": r.get("errors", [])} for r in results[offset:following]],
        "next_offset": following if following < len(results) else None,
    }


def problem(status: int, detail: str) -> httpx.Response:
    body = {"type": "about:blank", "title": "refused", "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> FakeIssuer:
    fake = FakeIssuer()
    monkeypatch.setattr(issue_command, "TRANSPORT", httpx.MockTransport(fake.handle))
    monkeypatch.setattr(issue_command, "POLL_SECONDS", 0)
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("CREDREG_API_KEY", "CREDREG_INSTITUTION", "CREDREG_ISSUER_URL"):
        monkeypatch.delenv(name, raising=False)
    return fake


def issue(csv_file: Path, *args: str, key: str = KEY, institution: str = DID) -> Any:
    command = ["issue", "--csv", str(csv_file), "--url", "http://issuer.test"]
    return runner.invoke(app, [*command, "--institution", institution, "--api-key", key, *args])


def write(tmp_path: Path, text: str, name: str = "rows.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_sample_validates_and_every_row_is_issued_as_its_columns_say(
    issuer: FakeIssuer,
) -> None:
    issuer.polls_before_done = 1  # the CLI must poll before the batch is done

    result = issue(SAMPLE, "--batch-size", "4")

    assert result.exit_code == 0, result.output
    assert len(issuer.posts) == 3 and len(issuer.credentials) == 10
    assert all(body["institution"] == DID for body in issuer.posts)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in issuer.requests)
    first_aid = issuer.sent()[0]
    assert first_aid["idempotency_key"].startswith("csv:")
    credential = first_aid["credential"]
    assert credential["holder_id"] == "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    achievement = credential["achievement"]
    assert achievement["name"] == "First Aid at Work"
    assert [c["name"] for c in achievement["competencies"]] == [
        "Primary survey",
        "Cardiopulmonary resuscitation",
        "Use of an AED",
    ]
    assert achievement["competencies"][1]["code"] == "FA-02"
    assert achievement["hours"] == "18" and achievement["delivery_mode"] == "in_person"
    assert credential["valid_from"] == "2025-03-14T00:00:00Z"
    assert credential["valid_until"] == "2028-03-14T00:00:00Z"
    assert achievement["assessment"] == {
        "description": "Two practical scenarios observed by a qualified assessor",
        "type": "Practical assessment",
    }
    assert achievement["accreditations"][0]["accreditor"]["name"] == "National First Aid Council"
    assert achievement["industry_partners"] == [
        {"id": "https://ambulance.example.org", "name": "Regional Ambulance Service"}
    ]
    with_framework = issuer.sent()[1]["credential"]["achievement"]["competencies"][0]
    assert with_framework["framework_url"].startswith("http://data.europa.eu/esco/skill/")
    assert issuer.sent()[2]["credential"]["holder_id"] == "s2104587"
    assert "accepted" in result.output and "10" in result.output


def test_running_the_same_file_again_sends_the_same_keys_and_issues_nothing_twice(
    issuer: FakeIssuer,
) -> None:
    first = issue(SAMPLE)
    keys = [item["idempotency_key"] for item in issuer.sent()]
    second = issue(SAMPLE)

    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert [item["idempotency_key"] for item in issuer.posts[1]["items"]] == keys
    assert len(set(keys)) == 10 and len(issuer.credentials) == 10


def test_an_interrupted_run_exits_130_and_the_next_run_completes_without_duplicates(
    issuer: FakeIssuer,
) -> None:
    issuer.interrupt_after_posts = 1  # Ctrl-C while the second batch is being sent

    interrupted = issue(SAMPLE, "--batch-size", "3")

    assert interrupted.exit_code == 130
    assert issue_command.INTERRUPTED in interrupted.output
    assert len(issuer.credentials) == 3
    issuer.interrupt_after_posts = None
    resumed = issue(SAMPLE, "--batch-size", "3")
    assert resumed.exit_code == 0, resumed.output
    assert len(issuer.credentials) == 10
    assert len(issuer.sent()) == 13  # the first batch's 3 rows were sent again, and accepted


def test_dry_run_checks_the_rows_and_sends_nothing(issuer: FakeIssuer) -> None:
    result = runner.invoke(app, ["issue", "--csv", str(SAMPLE), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "10 rows valid" in result.output
    assert issuer.requests == []


def test_row_errors_name_line_and_column_and_nothing_is_sent(
    issuer: FakeIssuer, tmp_path: Path
) -> None:
    rows = write(
        tmp_path,
        "holder_id,achievement_name,competencies,valid_from,valid_until,hours,delivery_mode\n"
        "s1,Welding,Arc welding,,,10,online\n"
        "s2,Welding,Arc welding,2027-06-30,2027-01-01,,\n"
        "s3,,Arc welding;|x,,,-1,remote\n",
    )

    result = issue(rows)
    dry = issue(rows, "--dry-run")

    assert result.exit_code == 1 and dry.exit_code == 1
    out = result.output
    assert "line 3, column valid_until: valid_until must be after valid_from (default: now)" in out
    assert "line 4, column achievement_name: required" in out
    assert "line 4, column hours: Input should be greater than 0" in out
    assert "line 4, column delivery_mode:" in out
    assert "line 4, column competencies: competency 2 name:" in out
    assert "2 of 3 rows invalid; nothing was sent" in out
    assert issuer.requests == []


def test_the_printed_row_errors_are_capped(issuer: FakeIssuer, tmp_path: Path) -> None:
    body = "".join(f"s{i},Welding,\n" for i in range(80))
    result = issue(write(tmp_path, "holder_id,achievement_name,competencies\n" + body))

    assert result.exit_code == 1
    assert "line 51, column competencies" in result.output
    assert "line 52," not in result.output
    assert "and 30 more errors" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "holder_id,hours\ns1,3\n",
            "missing required columns: achievement_name, competencies",
        ),
        (
            "holder_id;achievement_name;competencies\ns1;Welding;Arc welding\n",
            "the header has one column; is the file separated by ';'? use --delimiter ';'",
        ),
        (
            "holder_id\tachievement_name\tcompetencies\ns1\tWelding\tArc welding\n",
            "the header has one column; is the file separated by tab? use --delimiter tab",
        ),
        ("holder_id,achievement_name,competencies\n\n", "no data rows"),
        ("", "the file is empty"),
        (
            "holder_id,achievement_name,competencies,grade,colour\ns1,W,A,1,red\n",
            "unknown columns: grade, colour",
        ),
        (
            "holder_id,achievement_name,competencies,Holder_ID\ns1,W,A,s2\n",
            "holder_id (columns 1 and 4)",
        ),
    ],
)
def test_a_wrong_file_is_refused_with_one_line_and_exit_two(
    issuer: FakeIssuer, tmp_path: Path, text: str, message: str
) -> None:
    result = issue(write(tmp_path, text))

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert issuer.requests == []


def test_a_file_that_is_not_utf8_is_refused_with_its_line(
    issuer: FakeIssuer, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "holder_id,achievement_name,competencies\ns1,Welding,Arc\ns2,Soudure,Électricité\n".encode(
            "latin-1"
        )
    )

    result = issue(path)

    assert result.exit_code == 2
    assert "line 3 is not UTF-8" in result.output
    assert issuer.requests == []


def test_a_missing_file_exits_two(issuer: FakeIssuer, tmp_path: Path) -> None:
    result = issue(tmp_path / "nowhere.csv")

    assert result.exit_code == 2 and "no such file" in result.output


def test_a_file_over_20_mib_is_refused_before_it_is_read(
    issuer: FakeIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as file:
        file.truncate(MAX_CSV_BYTES + 1)  # sparse: nothing is written
    opened: list[Path] = []
    real_open = Path.open

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)

    result = issue(big)

    assert result.exit_code == 2
    assert "larger than 20 MiB" in result.output
    assert big not in opened and issuer.requests == []


def test_identical_rows_without_a_key_column_are_an_error_naming_both_lines(
    issuer: FakeIssuer, tmp_path: Path
) -> None:
    rows = write(
        tmp_path,
        "holder_id,achievement_name,competencies\n"
        "s1,Welding,Arc welding\n"
        "s2,Welding,Arc welding\n"
        "s1, Welding ,Arc welding\n",
    )

    result = issue(rows)

    assert result.exit_code == 1
    assert "line 4: the same credential as line 2; add a key column to issue both" in result.output
    assert issuer.requests == []


def test_a_key_column_gives_the_keys_and_must_be_unique_and_present(
    issuer: FakeIssuer, tmp_path: Path
) -> None:
    header = "Ref,holder_id,achievement_name,competencies\n"
    twice = write(tmp_path, header + "R-1,s1,Welding,Arc\nR-2,s1,Welding,Arc\n", "twice.csv")

    issued = issue(twice, "--key-column", "ref")

    assert issued.exit_code == 0, issued.output
    assert [item["idempotency_key"] for item in issuer.sent()] == ["R-1", "R-2"]
    assert "ref" not in json.dumps(issuer.sent()[0]["credential"])
    assert len(issuer.credentials) == 2
    bad = write(tmp_path, header + "R-1,s1,Welding,Arc\n,s2,Welding,Arc\nR-1,s3,W,A\n", "bad.csv")
    refused = issue(bad, "--key-column", "ref")
    assert refused.exit_code == 1
    assert "line 3, column ref: the key is empty" in refused.output
    assert "line 4, column ref: the key 'R-1' is also on line 2; keys must be unique" in (
        refused.output
    )
    assert len(issuer.posts) == 1
    unknown = issue(twice, "--key-column", "student_ref")
    assert unknown.exit_code == 2 and "--key-column student_ref" in unknown.output


def test_items_the_issuer_rejects_are_reported_with_their_lines(
    issuer: FakeIssuer, tmp_path: Path
) -> None:
    rows = write(
        tmp_path,
        "ref,holder_id,achievement_name,competencies\n"
        "R-1,s1,Welding,Arc welding\n"
        "R-2,s2,Welding,Arc welding\n"
        "R-3,s3,Welding,Arc welding\n",
    )
    issuer.credentials[(DID, "R-2")] = ("another digest", "urn:uuid:earlier")
    issuer.refuse_holders = {"s3"}

    result = issue(rows, "--key-column", "ref", "--batch-size", "2")

    assert result.exit_code == 1
    assert (
        "line 3, column ref: this key was used before for a different credential" in result.output
    )
    assert "line 4, column holder_id: holder is blocked" in result.output
    assert "line 2" not in result.output
    numbers = [re.findall(r"\d+", line) for line in result.output.splitlines() if "│" in line]
    assert ["3", "1", "2", "2"] in numbers  # rows, accepted, rejected, batches


def test_an_unknown_api_key_exits_one_with_the_problem_and_a_hint(
    issuer: FakeIssuer,
) -> None:
    result = issue(SAMPLE, key="crk_wrong")

    assert result.exit_code == 1
    assert "credreg: 401 unknown API key" in result.output
    assert "--api-key" in result.output
    assert issuer.credentials == {}


def test_the_key_of_another_institution_exits_one_naming_the_institution(
    issuer: FakeIssuer,
) -> None:
    result = issue(SAMPLE, key="crk_southgate")

    assert result.exit_code == 1
    assert "credreg: 403" in result.output and DID in result.output


def test_issuing_needs_an_institution_and_a_key(issuer: FakeIssuer) -> None:
    result = runner.invoke(app, ["issue", "--csv", str(SAMPLE), "--api-key", KEY])

    assert result.exit_code == 2 and "--institution" in result.output
    assert issuer.requests == []


def test_an_unreachable_issuer_exits_two(
    issuer: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(issue_command, "TRANSPORT", httpx.MockTransport(refuse))

    result = issue(SAMPLE)

    assert result.exit_code == 2
    assert "cannot reach the issuer at http://issuer.test" in result.output


def generated(path: Path, rows: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["holder_id", "achievement_name", "competencies", "hours", "valid_from"])
        for i in range(rows):
            writer.writerow(
                [f"s{i:06d}", "Data Analysis", "Cleaning|DA-1;Plots|DA-2", "12.5", "2025-06-30"]
            )
    return path


def test_twenty_thousand_rows_go_in_several_batches_and_all_are_issued(
    issuer: FakeIssuer, tmp_path: Path
) -> None:
    issuer.polls_before_done = 1
    path = generated(tmp_path / "cohort.csv", 20_000)

    result = issue(path, "--batch-size", "5000")

    assert result.exit_code == 0, result.output
    assert [len(body["items"]) for body in issuer.posts] == [5000] * 4
    assert len(issuer.credentials) == 20_000
    results_pages = [r for r in issuer.requests if r.url.params.get("offset") not in (None, "0")]
    assert results_pages  # results beyond the first page were read
    assert "20000" in result.output.replace(",", "")


class InlineWorker(httpx.AsyncBaseTransport):
    """The real issuer app, its batch worker run as soon as a batch is stored."""

    def __init__(self, issuer_app: Any) -> None:
        self.app = issuer_app
        self.asgi = httpx.ASGITransport(app=issuer_app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.asgi.handle_async_request(request)
        if request.method == "POST" and response.status_code == 202:
            await response.aread()
            batch_id = json.loads(response.content)["id"]
            await self.app.state.use_cases[IssueBatches].run(batch_id)
        return response


@dataclass
class RealIssuer:
    """The real issuer app over fakes, with one institution made through the CLI."""

    did: str
    api_key: str
    publisher: InMemoryPublisher

    def published(self) -> int:
        return len([r for r in self.publisher.records if r.topic.endswith(CREDENTIALS_TOPIC)])


def real_issuer(monkeypatch: pytest.MonkeyPatch, **options: Any) -> RealIssuer:
    settings = IssuerSettings(
        topic_namespace="unit.",
        admin_api_key="admin-key-for-tests",
        key_encryption_key=f"k1:{KeyEncryptionKeyring.generate_kek()}",
        did_web_host="issuer.example",
        status_list_base_url="https://issuer.example",
    )
    publisher = InMemoryPublisher()
    issuer_app = build_app(settings, fakes=in_memory_adapters(publisher=publisher), **options)
    monkeypatch.setattr(institutions_command, "TRANSPORT", httpx.ASGITransport(app=issuer_app))
    monkeypatch.setattr(issue_command, "TRANSPORT", InlineWorker(issuer_app))
    monkeypatch.setattr(issue_command, "POLL_SECONDS", 0)
    admin = ["--admin-key", "admin-key-for-tests", "--url", "http://issuer.test"]
    did = "did:web:issuer.example:institutions:northbridge"
    institution = runner.invoke(
        app, ["institutions", "create", "northbridge", "--name", "N", *admin]
    )
    assert institution.exit_code == 0, institution.output
    created = runner.invoke(app, ["institutions", "create-api-key", did, "--json", *admin])
    return RealIssuer(did, json.loads(created.output)["key"], publisher)


def test_the_real_issuer_issues_the_sample_once_and_rejects_a_reused_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = real_issuer(monkeypatch)
    api_key, did, published = real.api_key, real.did, real.published

    first = issue(SAMPLE, "--batch-size", "4", key=api_key, institution=did)
    again = issue(SAMPLE, key=api_key, institution=did)

    assert first.exit_code == 0 and again.exit_code == 0, again.output
    assert published() == 10
    header = "ref,holder_id,achievement_name,competencies\n"
    keyed = write(tmp_path, header + "R-1,s1,Welding,Arc\n", "keyed.csv")
    assert issue(keyed, "--key-column", "ref", key=api_key, institution=did).exit_code == 0
    edited = write(tmp_path, header + "R-0,s0,Welding,Arc\nR-1,s1,Welding,TIG\n", "edited.csv")
    rejected = issue(edited, "--key-column", "ref", key=api_key, institution=did)
    assert rejected.exit_code == 1
    assert "line 3, column ref: this key was used before" in rejected.output
    assert published() == 12


def test_a_run_resumed_after_valid_until_passed_completes_and_the_issuer_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [datetime(2025, 1, 6, 9, tzinfo=UTC)]
    real = real_issuer(monkeypatch, clock=lambda: now[0])
    header = "ref,holder_id,achievement_name,competencies,valid_until\n"
    first_row = "R-1,s1,Welding,Arc,2025-01-07\n"
    later_row = "R-2,s2,Welding,Arc,2025-01-07\n"
    on = {"key": real.api_key, "institution": real.did}

    # The issuer's clock is before valid_until (the CLI's own, the real time, is past it).
    first = issue(write(tmp_path, header + first_row, "first.csv"), "--key-column", "ref", **on)
    now[0] += timedelta(days=2)
    both = write(tmp_path, header + first_row + later_row, "both.csv")
    resumed = issue(both, "--key-column", "ref", **on)
    dry = issue(both, "--key-column", "ref", "--dry-run", **on)

    assert first.exit_code == 0, first.output
    assert resumed.exit_code == 1, resumed.output
    late = "line 3, column valid_until: valid_until must be after valid_from (default: now)"
    assert f"rejected by the issuer:\n{late}" in resumed.output
    assert "line 2" not in resumed.output  # accepted again, with its credential
    assert real.published() == 1
    assert "note: sending 1 row with a valid_until that has passed" in first.output
    assert dry.exit_code == 1
    assert late.replace("line 3", "line 2") in dry.output and late in dry.output
    assert "issuer accepts such a row only if an earlier run issued it" in dry.output
