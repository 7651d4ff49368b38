"""Tamper matrix (#15 part 4): a credential and a status list credential as the issuer serves
them, changed one thing at a time, must be rejected by `credreg verify` and by the registry's
`POST /v1/verify`, each naming the check that catches it.

The variants are generated from the served documents, not listed: every key of every object is
removed and renamed, every leaf (string, number, boolean; each item of an array) gets another
value, every item of an array of several is dropped; then the `@context` order, the proof (each
of its fields, a signature of another document by the same key, another cryptosuite or purpose)
and the key id (`verificationMethod`: the institution's earlier key, another DID's key, a did:key,
no fragment). A field the issuer adds tomorrow is covered without touching this file.

Both cryptosuites the issuer signs with: an institution made with `eddsa-rdfc-2022` and one with
`eddsa-jcs-2022`, each after one key rotation (so its DID document lists two keys). The issuer,
the registry and the CLI run in-process: the CLI through its typer entry point with `--resolve`,
the registry over fakes; both fetch the DID documents and status lists from a transport that
serves what the issuer served (or the variant under test), and no host name is ever resolved.

What must fail:
- a changed credential: the `proof` check (never anything else instead), so `issuer` too;
  unless the change leaves what the signature covers as it was (the same canonical bytes, as
  computed here from the spec: under eddsa-rdfc-2022 a new `@context` order that yields the same
  RDF dataset): then the proof rightly holds and the `schema` check must fail;
- the credential re-signed by another party's valid key: `proof` passes, `issuer` fails;
- the credential verified against a changed status list: `proof` and `issuer` pass,
  `revocation` fails with `STATUS_VERIFICATION_ERROR` (the list's own proof does not hold);
- a changed status list verified on its own: its `proof` check.
CLI and registry must agree on the outcome of every check. One variant is accepted by both, as
the spec requires, and pinned: see `SAME_SIGNED_DATA_ACCEPTED`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from credreg_cli import verify_command
from credreg_cli.main import app as cli_app
from credreg_issuer.adapters.fakes import in_memory_adapters
from credreg_issuer.bootstrap import build_app as build_issuer
from credreg_issuer.settings import IssuerSettings
from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.bootstrap import build_app as build_registry
from credreg_registry.ports import Adapters as RegistryAdapters
from credreg_shared.addresses import HostUnresolvable
from credreg_shared.credentials import resolution
from credreg_shared.credentials.canonicalization import CanonicalizationError
from credreg_shared.credentials.cryptosuites import (
    CRYPTOSUITES,
    EDDSA_JCS_2022,
    EDDSA_RDFC_2022,
    hash_data,
)
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.dids import did_key_for, did_web_document
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.resolution import MaterialFetcher

HOST = "issuer.example"
BASE = f"https://{HOST}"
ADMIN = {"Authorization": "Bearer tamper-admin-key"}
SUITES = (EDDSA_RDFC_2022, EDDSA_JCS_2022)
CHECKS = ("proof", "issuer", "validity", "revocation", "suspension", "schema")
"""Every check both verifiers report (the registry adds `registry`, its own view's status)."""
TIMEOUT = 120
"""Seconds per test; the whole module takes a few (CI has 2 cores)."""

runner = CliRunner()
Path = tuple[str | int, ...]
Expect = Callable[[Mapping[str, Any]], str | None]
"""What a report gets wrong (None: nothing)."""


# --- the documents, as the issuer serves them ---------------------------------------------


@dataclass
class Institution:
    slug: str
    did: str
    suite: str
    credential: dict[str, Any]
    """A credential it issued, exactly as `POST /v1/credentials` answered it."""
    second: dict[str, Any]
    """Another credential it issued (its proof is a valid signature of another document)."""
    status_list_url: str
    status_list: dict[str, Any]
    did_document: dict[str, Any]


@dataclass
class World:
    institutions: dict[str, Institution]
    """By cryptosuite."""
    served: dict[str, dict[str, Any]] = field(default_factory=dict)
    """URL path on the issuer's host → the JSON answered there (DID documents, status lists)."""
    mallory: Ed25519KeyPair = field(default_factory=Ed25519KeyPair.generate)
    """A forger with a DID of its own on the same host (resolvable, but not the issuer)."""
    registry: FastAPI | None = None
    """The registry app over fakes, fetching from `transport()` (set by the fixture)."""

    @property
    def mallory_did(self) -> str:
        return f"did:web:{HOST}:institutions:mallory"

    def transport(self) -> httpx.MockTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            document = self.served.get(request.url.path) if request.url.host == HOST else None
            if document is None:
                return httpx.Response(404, json={"title": "Not Found"})
            return httpx.Response(200, json=document)

        return httpx.MockTransport(answer)


async def _issue_world() -> World:
    settings = IssuerSettings(
        topic_namespace="tamper.",
        admin_api_key=ADMIN["Authorization"].removeprefix("Bearer "),
        key_encryption_key=f"k1:{KeyEncryptionKeyring.generate_kek()}",
        did_web_host=HOST,
        status_list_base_url=BASE,
        signing_processes=0,
    )
    transport = httpx.ASGITransport(app=build_issuer(settings, fakes=in_memory_adapters()))
    institutions: dict[str, Institution] = {}
    served: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as issuer:
        for suite in SUITES:
            slug = f"uni-{suite.split('-')[1]}"
            made = await issuer.post(
                "/v1/institutions",
                json={"slug": slug, "name": slug, "cryptosuite": suite},
                headers=ADMIN,
            )
            assert made.status_code == 201, made.text
            did = made.json()["id"]
            rotated = await issuer.post(f"/v1/institutions/{did}/keys", headers=ADMIN)
            assert rotated.status_code == 201, rotated.text
            key = await issuer.post(
                f"/v1/institutions/{did}/api-keys", json={"scopes": ["issue"]}, headers=ADMIN
            )
            assert key.status_code == 201, key.text
            auth = {"Authorization": f"Bearer {key.json()['key']}"}
            issued = []
            for name in ("Welding", "Soldering"):
                body = {
                    "holder_id": "did:example:ada",
                    "achievement": {
                        "name": name,
                        "competencies": [{"name": "Protective equipment", "code": "W-1"}],
                        "hours": 12,
                        "delivery_mode": "online",
                    },
                    "valid_until": "2099-01-01T00:00:00Z",
                }
                answer = await issuer.post("/v1/credentials", json=body, headers=auth)
                assert answer.status_code == 201, answer.text
                issued.append(answer.json()["credential"])
            entry = issued[0]["credentialStatus"]
            entry = entry[0] if isinstance(entry, list) else entry
            url = entry["statusListCredential"]
            status_list = await issuer.get(url)
            assert status_list.status_code == 200, status_list.text
            did_path = f"/institutions/{slug}/did.json"
            did_document = await issuer.get(did_path)
            assert did_document.status_code == 200, did_document.text
            served[did_path] = did_document.json()
            served[httpx.URL(url).path] = status_list.json()
            institutions[suite] = Institution(
                slug,
                did,
                suite,
                issued[0],
                issued[1],
                url,
                status_list.json(),
                did_document.json(),
            )
    world = World(institutions, served)
    served["/institutions/mallory/did.json"] = did_web_document(
        world.mallory_did, {"key-1": world.mallory.public_key_bytes}
    )
    return world


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """The documents, and both verifiers pointed at a host serving them (no DNS, no network)."""
    made = asyncio.run(_issue_world())

    async def no_dns(host: str) -> list[str]:
        raise HostUnresolvable(f"host {host!r} is not resolved in tests")

    # The registry fetches with the same rules as the CLI, from the same host.
    fetcher = MaterialFetcher(httpx.AsyncClient(transport=made.transport()), host_map={HOST: BASE})
    view = InMemoryView()
    made.registry = build_registry(
        fakes=RegistryAdapters(documents=view, store=view, verification_material=fetcher)
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resolution, "resolve", no_dns)
        patch.setattr(verify_command, "TRANSPORT", made.transport())
        yield made
    asyncio.run(fetcher.client.aclose())


# --- the two verifiers ----------------------------------------------------------------------


def cli_report(document: Any) -> tuple[int, dict[str, Any]]:
    """`credreg verify --json --resolve - ` on the document: exit status and parsed report."""
    result = runner.invoke(
        cli_app,
        ["verify", "--json", "--resolve", "--map-host", f"{HOST}={BASE}", "-"],
        input=json.dumps(document),
    )
    assert result.exit_code in (0, 1), result.output
    # --json prints the report on stdout; fetch problems (expected for some variants) go to
    # stderr, which the runner keeps apart.
    return result.exit_code, json.loads(result.stdout)


async def _registry_reports(world: World, documents: list[Any]) -> list[dict[str, Any]]:
    assert world.registry is not None
    transport = httpx.ASGITransport(app=world.registry)
    reports = []
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        for document in documents:
            answer = await client.post("/v1/verify", json=document)
            assert answer.status_code == 200, answer.text
            reports.append(answer.json())
    return reports


def registry_reports(world: World, documents: list[Any]) -> list[dict[str, Any]]:
    """`POST /v1/verify` of the registry (over fakes) for each document, in order."""
    return asyncio.run(_registry_reports(world, documents))


def outcomes(report: Mapping[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Check name → (outcome, error code)."""
    return {c["name"]: (c["outcome"], c.get("error_code")) for c in report["checks"]}


def reason(report: Mapping[str, Any], name: str) -> str:
    return str(next(c["reason"] for c in report["checks"] if c["name"] == name))


# --- the variants ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    document: dict[str, Any]


def _get(document: Any, path: Path) -> Any:
    for step in path:
        document = document[step]
    return document


def _changed(document: dict[str, Any], path: Path, change: Callable[[Any], Any]) -> dict[str, Any]:
    """A deep copy with the container at `path[:-1]` changed by `change(container)`."""
    copied = copy.deepcopy(document)
    change(_get(copied, path[:-1]))
    return copied


def _label(path: Path) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)[1:]


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")


def other_value(value: Any) -> Any:
    """Another value of the same kind: what an attacker would write instead."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if value is None:
        return "tampered"
    text = str(value)
    if _DATETIME.match(text):
        moved = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return (moved - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not text:
        return "x"
    last = text[-1]
    if last.isdigit():
        return text[:-1] + str((int(last) + 1) % 10)
    if last.isalpha():
        # Still a letter (and a base58 digit for proofValue): the change stays well formed.
        return text[:-1] + ("b" if last.lower() == "a" else "a")
    return text + "x"


def walk(node: Any, path: Path = ()) -> Iterator[tuple[str, Path]]:
    """Every key, array item (of arrays of several) and leaf below `node`: ("key", path),
    ("item", path), ("leaf", path)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield ("key", (*path, key))
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if len(node) > 1:
                yield ("item", (*path, index))
            yield from walk(value, (*path, index))
    else:
        yield ("leaf", path)


def field_variants(document: dict[str, Any]) -> Iterator[Variant]:
    """One change at a time, for every key and leaf of the document (its proof included)."""
    for kind, path in walk(document):
        last = path[-1]

        def remove(container: Any, step: str | int = last) -> None:
            del container[step]

        if kind == "key":
            yield Variant(f"{_label(path)}: removed", _changed(document, path, remove))

            def rename(container: Any, key: str | int = last) -> None:
                container[f"{key}Tampered"] = container.pop(key)

            yield Variant(f"{_label(path)}: key renamed", _changed(document, path, rename))
        elif kind == "item":
            yield Variant(f"{_label(path)}: item dropped", _changed(document, path, remove))
        else:
            new = other_value(_get(document, path))

            def replace(container: Any, step: str | int = last, value: Any = new) -> None:
                container[step] = value

            yield Variant(f"{_label(path)}: {new!r}", _changed(document, path, replace))


def context_order_variants(document: dict[str, Any]) -> Iterator[Variant]:
    """Every other order of `@context`; with eddsa-jcs-2022 also the proof's, reordered alike."""
    contexts = document.get("@context")
    if not isinstance(contexts, list) or len(contexts) < 2:
        return
    for order in itertools.permutations(contexts):
        if list(order) == contexts:
            continue
        reordered = {**copy.deepcopy(document), "@context": list(order)}
        yield Variant(f"@context order {list(order)}", reordered)
        proofs = reordered.get("proof")
        if isinstance(proofs, list) and any("@context" in proof for proof in proofs):
            both = copy.deepcopy(reordered)
            for proof in both["proof"]:
                if "@context" in proof:
                    proof["@context"] = list(order)
            yield Variant(f"@context and proof @context order {list(order)}", both)


def proof_variants(
    world: World, institution: Institution, document: dict[str, Any], other: list[Any]
) -> Iterator[Variant]:
    """The proof replaced or re-pointed as a forger could, and the key id changed."""

    def with_proof(**changes: Any) -> dict[str, Any]:
        changed = copy.deepcopy(document)
        changed["proof"][0].update(changes)
        return changed

    yield Variant("proof: another document's proof, same key", {**document, "proof": other})
    yield Variant(
        "proofValue: another document's signature, same key",
        with_proof(proofValue=other[0]["proofValue"]),
    )
    yield Variant("proof: empty list", {**document, "proof": []})
    yield Variant("proof: an empty object", {**document, "proof": {}})
    for suite in SUITES:
        if suite != institution.suite:
            yield Variant(f"proof.cryptosuite: {suite}", with_proof(cryptosuite=suite))
    yield Variant("proof.proofPurpose: authentication", with_proof(proofPurpose="authentication"))
    current = document["proof"][0]["verificationMethod"]
    methods = [m["id"] for m in institution.did_document["verificationMethod"]]
    mallory_key = did_key_for(world.mallory.public_key_bytes)
    for method in (
        *(m for m in methods if m != current),
        f"{world.mallory_did}#key-1",
        f"{mallory_key}#{mallory_key.removeprefix('did:key:')}",
        institution.did,
        f"{institution.did}#key-99",
    ):
        yield Variant(
            f"verificationMethod (key id): {method}", with_proof(verificationMethod=method)
        )


def forged_variants(world: World, document: dict[str, Any]) -> Iterator[Variant]:
    """Re-signed by a key that is valid but not the issuer's: the proof holds, the issuer not."""
    mallory_key = did_key_for(world.mallory.public_key_bytes)
    for method in (
        f"{world.mallory_did}#key-1",
        f"{mallory_key}#{mallory_key.removeprefix('did:key:')}",
    ):
        suite = document["proof"][0]["cryptosuite"]
        for label, changed in (
            ("unchanged", document),
            ("name changed", {**document, "name": "Master Welder"}),
        ):
            signed = add_proof(
                changed, key_pair=world.mallory, verification_method=method, cryptosuite=suite
            )
            yield Variant(f"re-signed by {method}, {label}", signed)


def credential_variants(world: World, institution: Institution) -> list[Variant]:
    credential = institution.credential
    return [
        *field_variants(credential),
        *context_order_variants(credential),
        *proof_variants(world, institution, credential, institution.second["proof"]),
    ]


def status_list_variants(world: World, institution: Institution) -> list[Variant]:
    status_list = institution.status_list
    return [
        *field_variants(status_list),
        *context_order_variants(status_list),
        *proof_variants(world, institution, status_list, institution.credential["proof"]),
    ]


def assert_covers_every_field(document: dict[str, Any], variants: list[Variant]) -> None:
    """Each key of the document and of its proof is changed by some variant (a generator that
    yields too little fails here, not silently)."""
    names = " ".join(variant.name for variant in variants)
    for key in (*document, *(f"proof[0].{k}" for k in document["proof"][0])):
        assert f"{key}: removed" in names, f"no variant removes {key}"
    assert "verificationMethod (key id)" in names
    keys, leaves = _count(document)
    assert len(variants) >= 2 * keys + leaves, (len(variants), keys, leaves)


def _count(node: Any) -> tuple[int, int]:
    """(keys, leaves) below `node`, counted apart from `walk`."""
    if isinstance(node, Mapping):
        below = [_count(value) for value in node.values()]
        return len(node) + sum(k for k, _ in below), sum(n for _, n in below)
    if isinstance(node, list):
        below = [_count(value) for value in node]
        return sum(k for k, _ in below), sum(n for _, n in below)
    return 0, 1


def both_reports(world: World, documents: list[Any]) -> list[tuple[int, dict[str, Any], Any]]:
    """(CLI exit status, CLI report, registry report) for each document."""
    registry = registry_reports(world, documents)
    return [
        (*cli_report(document), answer)
        for document, answer in zip(documents, registry, strict=True)
    ]


def disagreement(cli: Mapping[str, Any], registry: Mapping[str, Any]) -> str | None:
    mine, theirs = outcomes(cli), outcomes(registry)
    differing = [name for name in CHECKS if mine.get(name) != theirs.get(name)]
    return f"CLI and registry differ on {differing}" if differing else None


def judge(
    variants: list[Variant],
    reports: list[tuple[int, dict[str, Any], Any]],
    expectation: Callable[[Variant], Expect],
) -> list[str]:
    """What each variant's answers got wrong; `expectation(variant)(report)` names what a report
    misses (None: nothing)."""
    problems = []
    for variant, (status, cli, registry) in zip(variants, reports, strict=True):
        expect = expectation(variant)
        wanted_status = 0 if expect is accepted else 1
        wrong = [
            f"CLI exit status {status}" if status != wanted_status else None,
            f"CLI: {expect(cli)}" if expect(cli) else None,
            f"registry: {expect(registry)}" if expect(registry) else None,
            disagreement(cli, registry),
        ]
        if any(wrong):
            found = outcomes(cli)
            problems.append(
                f"{variant.name} => {'; '.join(w for w in wrong if w)} — CLI checks {found}"
            )
    return problems


def report_failure(what: str, problems: list[str], total: int) -> str:
    wrong = len({problem.split(" => ", 1)[0] for problem in problems})
    shown = "\n  ".join(problems[:40])
    return f"{wrong} of {total} {what} variants not rejected as expected:\n  {shown}"


def signed_bytes(document: Any) -> bytes | None:
    """What the first proof's signature covers (Data Integrity's hash of the proof configuration
    and the document, each canonicalized by the proof's cryptosuite), with the signature and the
    key; None when there is no such proof. Two documents with the same value carry the same
    signature over the same canonical data: no verifier can tell them apart by their proof."""
    try:
        proof = document["proof"][0]
        suite = CRYPTOSUITES[proof["cryptosuite"]]
        options = {k: v for k, v in proof.items() if k != "proofValue"}
        unsecured = {k: v for k, v in document.items() if k != "proof"}
        if "@context" in options and options["@context"] != unsecured.get("@context"):
            return None  # the proof's contexts must be the document's (a prefix, in general)
        config = {
            **options,
            **({"@context": unsecured["@context"]} if "@context" in unsecured else {}),
        }
        data = hash_data(suite, proof_config=config, document=unsecured)
        return data + f"{proof['proofValue']} {proof['verificationMethod']}".encode()
    except (KeyError, IndexError, TypeError, ValueError, CanonicalizationError):
        return None


SAME_SIGNED_DATA_ACCEPTED = {
    (EDDSA_JCS_2022, "proof[0].@context: removed"),
}
"""Variants that change nothing any check judges, accepted by both verifiers as the spec says.
eddsa-jcs-2022 copies the document's `@context` into the proof; a verifier checks it only if it
is there (Data Integrity EdDSA §3.3.2, "if proofOptions.@context exists") and otherwise signs
the document's own `@context` into the proof configuration: the signed bytes are the same, and
nothing the credential says has changed. Pinned here so that a change in either direction is
seen (the list is also checked to name only variants that exist)."""


def expected_rejection(original: Any, suite: str) -> Callable[[Variant], Expect]:
    """For each variant, what must fail: `proof` when it changes what the signature covers;
    `schema` when it does not (the same canonical data: under eddsa-rdfc-2022 a new `@context`
    order can leave the RDF dataset as it was, and only the JSON shape the OB 3.0 schema requires
    tells the difference); verified, for the pinned variants above."""
    reference = signed_bytes(original)
    assert reference is not None

    def for_variant(variant: Variant) -> Expect:
        if (suite, variant.name) in SAME_SIGNED_DATA_ACCEPTED:
            return accepted
        if signed_bytes(variant.document) == reference:
            return rejected_by_schema
        return rejected_by_proof

    return for_variant


def accepted(report: Mapping[str, Any]) -> str | None:
    return None if report["verified"] is True else f"not verified: {outcomes(report)}"


def rejected_by_proof(report: Mapping[str, Any]) -> str | None:
    found = outcomes(report)
    if report["verified"] is not False:
        return "verified"
    if found["proof"][0] != "failed":
        return f"proof {found['proof'][0]}, not failed"
    if found["issuer"][0] != "failed":
        return f"issuer {found['issuer'][0]} without a verified proof"
    return None


def rejected_by_schema(report: Mapping[str, Any]) -> str | None:
    found = outcomes(report)
    if report["verified"] is not False:
        return "verified (the signature covers the same data: only the schema can tell)"
    if found["proof"][0] != "passed":
        return f"proof {found['proof'][0]} although the signed data is the same"
    if found["schema"][0] != "failed":
        return f"schema {found['schema'][0]}, not failed"
    return None


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("suite", SUITES)
def test_the_untampered_documents_verify(world: World, suite: str) -> None:
    """Without it the matrix would prove nothing: the originals pass every check in both."""
    institution = world.institutions[suite]
    documents = [institution.credential, institution.status_list]
    for status, cli, registry in both_reports(world, documents):
        assert status == 0, cli
        assert cli["verified"] is True and registry["verified"] is True, (cli, registry)
        assert disagreement(cli, registry) is None
        assert outcomes(registry)["proof"] == ("passed", None)
        assert reason(cli, "proof") == f"1 valid {suite} signature(s)"
    credential = outcomes(both_reports(world, [institution.credential])[0][1])
    assert credential["issuer"] == ("passed", None)
    assert credential["revocation"] == ("passed", None)  # the list was fetched and its proof held
    assert credential["schema"] == ("passed", None)


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("suite", SUITES)
def test_every_change_to_a_credential_fails_its_proof(world: World, suite: str) -> None:
    institution = world.institutions[suite]
    variants = credential_variants(world, institution)
    assert_covers_every_field(institution.credential, variants)
    assert any(v.name.startswith("@context order") for v in variants)

    expectation = expected_rejection(institution.credential, suite)
    reports = both_reports(world, [v.document for v in variants])
    problems = judge(variants, reports, expectation)
    assert not problems, report_failure(f"{suite} credential", problems, len(variants))
    pinned = {name for pinned_suite, name in SAME_SIGNED_DATA_ACCEPTED if pinned_suite == suite}
    assert pinned <= {v.name for v in variants}, pinned


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("suite", SUITES)
def test_a_credential_re_signed_by_another_key_fails_the_issuer_check(
    world: World, suite: str
) -> None:
    variants = list(forged_variants(world, world.institutions[suite].credential))

    def expect(report: Mapping[str, Any]) -> str | None:
        found = outcomes(report)
        if report["verified"] is not False:
            return "verified"
        if found["proof"][0] != "passed":
            return f"proof {found['proof'][0]}: the forger's signature should hold"
        if found["issuer"][0] != "failed":
            return f"issuer {found['issuer'][0]}, not failed"
        return None

    reports = both_reports(world, [v.document for v in variants])
    problems = judge(variants, reports, lambda _: expect)
    assert not problems, report_failure(f"{suite} re-signed", problems, len(variants))


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("suite", SUITES)
def test_every_change_to_a_status_list_fails_the_revocation_check(world: World, suite: str) -> None:
    """The credential is intact; the list it names is served changed: `revocation` fails with
    STATUS_VERIFICATION_ERROR, and the changed list verified on its own fails its proof."""
    institution = world.institutions[suite]
    variants = status_list_variants(world, institution)
    assert_covers_every_field(institution.status_list, variants)
    path = httpx.URL(institution.status_list_url).path

    def expect_credential(report: Mapping[str, Any]) -> str | None:
        found = outcomes(report)
        if report["verified"] is not False:
            return "verified"
        if found["proof"][0] != "passed" or found["issuer"][0] != "passed":
            return f"the credential's own proof or issuer failed: {found}"
        if found["revocation"] != ("failed", "STATUS_VERIFICATION_ERROR"):
            return f"revocation {found['revocation']}, not failed STATUS_VERIFICATION_ERROR"
        return None

    alone_expectation = expected_rejection(institution.status_list, suite)

    def credential_expectation(variant: Variant) -> Expect:
        if alone_expectation(variant) is accepted:
            return accepted  # the same list, as far as any check can tell
        return expect_credential

    problems: list[str] = []
    try:
        for variant in variants:
            world.served[path] = variant.document
            (credential,) = both_reports(world, [institution.credential])
            (alone,) = both_reports(world, [variant.document])
            problems += judge([variant], [credential], credential_expectation)
            problems += judge([variant], [alone], alone_expectation)
    finally:
        world.served[path] = institution.status_list
    assert not problems, report_failure(f"{suite} status list", problems, len(variants))
    pinned = {name for pinned_suite, name in SAME_SIGNED_DATA_ACCEPTED if pinned_suite == suite}
    assert pinned <= {v.name for v in variants}, pinned


@pytest.mark.timeout(TIMEOUT)
def test_the_cli_table_names_the_failing_check(world: World) -> None:
    """Without --json, the table a person reads says which check failed, and exit status 1."""
    credential = {**world.institutions[EDDSA_RDFC_2022].credential, "name": "Master Welder"}
    result = runner.invoke(
        cli_app,
        ["verify", "--resolve", "--map-host", f"{HOST}={BASE}", "-"],
        input=json.dumps(credential),
        terminal_width=200,
    )
    assert result.exit_code == 1, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "failed" in rows["proof"] and "signature does not match" in rows["proof"]
    assert "failed" in rows["issuer"] and "passed" in rows["revocation"]
    assert "NOT VERIFIED" in result.output
