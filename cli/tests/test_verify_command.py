"""`credreg verify` on library-signed and W3C example credentials: report and exit status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credreg_cli.main import app
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.model import (
    Achievement,
    AchievementCredential,
    AchievementSubject,
    Alignment,
    Criteria,
    Profile,
)

STANDARDS = Path(__file__).parents[2] / "shared" / "tests" / "credentials" / "vectors"
runner = CliRunner()


@pytest.fixture
def signed_file(tmp_path: Path) -> Path:
    key = Ed25519KeyPair.generate()
    issuer = f"did:key:{key.public_multikey}"
    credential = AchievementCredential(
        id="urn:uuid:6a0d3f9e-2d7e-4d8b-9a55-0f0a1c2b3d4e",
        name="Welding Safety",
        issuer=Profile(id=issuer, name="Example College"),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        credential_subject=AchievementSubject(
            id="did:example:learner",
            achievement=Achievement(
                id="https://college.example/achievements/welding-safety",
                name="Welding Safety",
                description="Safe welding practice.",
                criteria=Criteria(narrative="Pass the practical assessment."),
                alignment=[Alignment(target_name="PPE", target_url="https://f.example/ppe")],
            ),
        ),
    )
    signed = add_proof(
        credential.to_document(),
        key_pair=key,
        verification_method=f"{issuer}#{key.public_multikey}",
        cryptosuite="eddsa-jcs-2022",
    )
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(signed), encoding="utf-8")
    return path


def test_library_signed_credential_verifies_with_exit_zero(signed_file):
    result = runner.invoke(app, ["verify", str(signed_file)])
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.output and "NOT VERIFIED" not in result.output
    assert "did:key:z6Mk" in result.output  # DIDs are not turned into emoji


def test_json_report_lists_every_check(signed_file):
    result = runner.invoke(app, ["verify", "--json", str(signed_file)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["verified"] is True
    assert [check["name"] for check in report["checks"]] == [
        "proof",
        "issuer",
        "validity",
        "revocation",
        "suspension",
        "schema",
    ]


def test_a_single_proof_object_verifies_and_the_table_warns(signed_file, tmp_path):
    document = json.loads(signed_file.read_text())
    document["proof"] = document["proof"][0]
    single = tmp_path / "single-proof.json"
    single.write_text(json.dumps(document))
    result = runner.invoke(app, ["verify", str(single)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "NOT VERIFIED" not in result.output
    assert "warning: proof is a single object" in result.output


def test_tampered_credential_exits_one(signed_file, tmp_path):
    document = json.loads(signed_file.read_text())
    document["name"] = "Master Welder"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    result = runner.invoke(app, ["verify", "--json", str(forged)])
    assert result.exit_code == 1
    proof = json.loads(result.output)["checks"][0]
    assert proof["outcome"] == "failed"
    assert proof["reason"] == "signature does not match the document and key"


def test_validity_can_be_checked_at_another_time(signed_file):
    result = runner.invoke(
        app, ["verify", "--json", "--at", "2025-06-01T00:00:00Z", str(signed_file)]
    )
    assert result.exit_code == 1
    assert json.loads(result.output)["checks"][2]["outcome"] == "failed"


def test_w3c_example_with_its_status_list(tmp_path):
    credential = STANDARDS / "status-list" / "example-04-revocable-credential.eddsa-rdfc-2022.json"
    status_list = (
        STANDARDS / "status-list" / "example-05-status-list-credential.eddsa-rdfc-2022.json"
    )
    result = runner.invoke(
        app, ["verify", "--json", str(credential), "--status-list", str(status_list)]
    )
    report = json.loads(result.output)
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert outcomes["proof"] == "passed"
    assert outcomes["revocation"] == "passed"
    # The example's did:key is not its issuer, so the strict issuer binding fails it.
    assert outcomes["issuer"] == "failed"
    assert result.exit_code == 1


def test_unreadable_input_exits_two(tmp_path):
    missing = runner.invoke(app, ["verify", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert runner.invoke(app, ["verify", str(garbage)]).exit_code == 2
