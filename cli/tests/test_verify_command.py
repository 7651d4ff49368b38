"""`credreg verify` on library-signed and W3C example credentials: report and exit status."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from credreg_cli import verify_command
from credreg_cli.main import app
from credreg_issuer.adapters.fakes import (
    in_memory_adapters,
)
from credreg_issuer.bootstrap import build_app
from credreg_issuer.settings import IssuerSettings
from credreg_shared.addresses import HostUnresolvable
from credreg_shared.credentials import resolution
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
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


def issued_by_a_hosted_institution(tmp_path: Path) -> tuple[Path, httpx.ASGITransport]:
    """A credential issued by the issuer app (over fakes) and the transport that reaches it."""
    settings = IssuerSettings(
        topic_namespace="unit.",
        admin_api_key="admin-key-for-tests",
        key_encryption_key=f"k1:{KeyEncryptionKeyring.generate_kek()}",
        did_web_host="issuer.example",
        status_list_base_url="https://issuer.example",
    )
    fakes = in_memory_adapters()
    issuer = httpx.ASGITransport(app=build_app(settings, fakes=fakes))

    async def issue() -> dict[str, Any]:
        admin = {"Authorization": "Bearer admin-key-for-tests"}
        async with httpx.AsyncClient(transport=issuer, base_url="http://issuer") as client:
            made = await client.post(
                "/v1/institutions", json={"slug": "uni", "name": "Uni"}, headers=admin
            )
            did = made.json()["id"]
            key = (await client.post(f"/v1/institutions/{did}/api-keys", headers=admin)).json()
            body = {
                "holder_id": "did:example:ada",
                "achievement": {"name": "Welding", "competencies": [{"name": "PPE"}]},
            }
            answer = await client.post(
                "/v1/credentials", json=body, headers={"Authorization": f"Bearer {key['key']}"}
            )
            credential: dict[str, Any] = answer.json()["credential"]
            return credential

    path = tmp_path / "issued.json"
    path.write_text(json.dumps(asyncio.run(issue())))
    return path, issuer


def test_resolve_fetches_the_did_web_document_from_the_mapped_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, issuer = issued_by_a_hosted_institution(tmp_path)
    offline = runner.invoke(app, ["verify", "--json", str(path)])
    assert offline.exit_code == 1  # no DID document without --resolve
    monkeypatch.setattr(verify_command, "TRANSPORT", issuer)
    result = runner.invoke(
        app,
        ["verify", "--json", "--resolve", "--map-host", "issuer.example=http://issuer", str(path)],
    )
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c["outcome"] for c in json.loads(result.output)["checks"]}
    # The status list too: fetched, its own proof checked, the credential's bit clear.
    assert (checks["proof"], checks["issuer"], checks["revocation"], checks["schema"]) == (
        ("passed",) * 4
    )


def test_resolve_reports_what_it_could_not_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, issuer = issued_by_a_hosted_institution(tmp_path)
    monkeypatch.setattr(verify_command, "TRANSPORT", issuer)

    async def no_dns(host: str) -> list[str]:
        raise HostUnresolvable(f"host {host!r} does not resolve")

    # Unmapped, the did:web host would be looked up and fetched over https (never in tests).
    monkeypatch.setattr(resolution, "resolve", no_dns)
    result = runner.invoke(app, ["verify", "--resolve", str(path)])
    assert result.exit_code == 1
    assert "could not fetch did:web:issuer.example:institutions:uni" in result.output
    assert "does not resolve" in result.output
    bad = runner.invoke(app, ["verify", "--resolve", "--map-host", "nonsense", str(path)])
    assert bad.exit_code == 2 and "--map-host" in bad.output
