"""The fast RDFC-1.0 path gives pyld's bytes, or hands the document to pyld."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from credreg_shared.credentials import rdf_fast
from credreg_shared.credentials.bitstring import Bitstring
from credreg_shared.credentials.canonicalization import (
    CanonicalizationError,
    canonicalize_rdf,
    canonicalize_rdf_reference,
)
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.document_loader import known_context_urls, load_context
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.model import IdentityObject, StatusEntry, hashed_identifier
from credreg_shared.credentials.status_list import build_status_list_credential

VECTORS = Path(__file__).parent / "vectors"

TRICKY_STRINGS = [
    "",
    " ",
    'a "quoted" word',
    "back\\slash and \\n literally",
    "line\nbreak",
    "carriage\rreturn",
    "tab\tstop",
    "control \x00\x01\x07\x08\x0b\x0c\x1b\x1f\x7f chars",
    "Ünïcödé — ½ ∑ 漢字 עברית",
    "emoji 🎓🏅 and combining é",
    "\u2028 line and \u2029 paragraph separators, \ufeff BOM",
    "_:b0",
    "<http://example.org/not-an-iri>",
    '" .\n<http://evil.example> <http://p> "x',
    "@id",
    "x" * 2000,
]


def outcome(canonicalize: Callable[[Any], str], document: Any) -> str:
    """The canonical N-Quads, or the error a document gets."""
    try:
        return canonicalize(document)
    except CanonicalizationError as error:
        return f"CanonicalizationError: {error}"


def assert_same(document: Any) -> None:
    frozen = copy.deepcopy(document)
    assert outcome(canonicalize_rdf, document) == outcome(canonicalize_rdf_reference, document)
    assert document == frozen, "canonicalisation changed its input"


def vector_documents() -> list[Any]:
    found = []
    for path in sorted(VECTORS.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and "@context" in document:
            found.append(pytest.param(document, id=str(path.relative_to(VECTORS))))
    return found


@pytest.mark.parametrize("document", vector_documents())
def test_every_vector_canonicalises_as_pyld_does(document: dict[str, Any]) -> None:
    assert_same(document)
    # A signed vector without its proof is what signing and verifying canonicalise.
    assert_same({k: v for k, v in document.items() if k != "proof"})


def test_the_published_rdfc_vector_comes_from_the_fast_path(vectors: Any) -> None:
    unsigned = vectors.json("unsigned.json")
    expected = vectors.text("eddsa-rdfc-2022/canonDocDataInt.txt")
    assert rdf_fast.canonicalize(unsigned) == expected


def test_the_open_badges_vector_comes_from_the_fast_path(vectors: Any) -> None:
    vector = vectors.json("openbadges/ob-eddsa-rdfc-2022-vector.json")
    credential = vector["credential"]
    config = {**vector["proofBeforeSigning"], "@context": credential["@context"]}
    assert rdf_fast.canonicalize(credential) == vectors.text("openbadges/document-canon.txt")
    assert rdf_fast.canonicalize(config) == vectors.text("openbadges/proof-canon.txt")


def test_the_representative_credential_and_its_proof_config_take_the_fast_path(
    micro_credential: Callable[..., Any],
) -> None:
    document = micro_credential().to_document()
    config = {
        "@context": document["@context"],
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2026-01-01T00:00:00Z",
        "verificationMethod": "did:key:z6Mk#z6Mk",
        "proofPurpose": "assertionMethod",
    }
    for item in (document, config):
        assert rdf_fast.canonicalize(item) == canonicalize_rdf_reference(item)


def credential_variants(micro_credential: Callable[..., Any], seed: int) -> Iterator[Any]:
    """Credentials as the issuer builds them, with random metadata and tricky strings."""
    rng = random.Random(seed)
    for n in range(40):
        text = rng.choice(TRICKY_STRINGS) + rng.choice(TRICKY_STRINGS)
        statuses = [
            StatusEntry(
                id=f"https://registrar.example.edu/status/{purpose}#{n}",
                status_purpose=purpose,
                status_list_index=str(rng.randrange(10**6)),
                status_list_credential=f"https://registrar.example.edu/status/{purpose}",
            )
            for purpose in rng.sample(["revocation", "suspension"], rng.randrange(3))
        ]
        overrides: dict[str, Any] = {
            "credential_id": f"urn:uuid:{rng.getrandbits(128):032x}",
            "name": text,
            "description": rng.choice([None, *TRICKY_STRINGS]),
            "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
            "valid_until": rng.choice([None, datetime(2031, 6, 30, 12, tzinfo=UTC)]),
            "credential_status": statuses,
        }
        if rng.random() < 0.5:
            overrides["issuer"] = f"did:web:issuer-{n}.example"
        document = micro_credential(**overrides).to_document()
        if rng.random() < 0.3:
            subject = document["credentialSubject"]
            del subject["id"]
            identity: IdentityObject = hashed_identifier(
                f"learner{n}@example.edu", identity_type="emailAddress", salt=f"{n:08x}"
            )
            subject["identifier"] = [identity.model_dump(mode="json", by_alias=True)]
        yield document


def test_issued_credentials_with_random_metadata_canonicalise_as_pyld_does(
    micro_credential: Callable[..., Any],
) -> None:
    fast = 0
    for document in credential_variants(micro_credential, seed=7):
        assert_same(document)
        try:
            rdf_fast.canonicalize(document)
            fast += 1
        except rdf_fast.Unsupported:
            pass
    assert fast >= 30, "the fast path should handle nearly every issued credential"


def test_signed_credentials_canonicalise_as_pyld_does(
    micro_credential: Callable[..., Any],
) -> None:
    key = Ed25519KeyPair.from_seed(bytes(32))
    for suite in ("eddsa-rdfc-2022", "eddsa-jcs-2022"):
        signed = add_proof(
            micro_credential().to_document(),
            key_pair=key,
            verification_method=f"did:key:{key.public_multikey}#{key.public_multikey}",
            cryptosuite=suite,
        )
        assert_same(signed)  # `proof` is an @graph container: pyld's path
        assert_same(signed["proof"][0] | {"@context": signed["@context"]})


def test_status_list_credentials_canonicalise_as_pyld_does() -> None:
    bits = Bitstring()
    for index in (0, 7, 4096, 131071):
        bits.set(index, True)
    for purpose in ("revocation", "suspension"):
        document = build_status_list_credential(
            url=f"https://registrar.example.edu/status/{purpose}",
            issuer="did:web:registrar.example.edu",
            purpose=purpose,
            bitstring=bits,
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
            valid_until=datetime(2026, 1, 2, tzinfo=UTC),
        )
        assert rdf_fast.canonicalize(document) == canonicalize_rdf_reference(document)


def test_blank_nodes_with_equal_first_degree_hashes_go_to_pyld(
    micro_credential: Callable[..., Any],
) -> None:
    document = micro_credential().to_document()
    achievement = document["credentialSubject"]["achievement"]
    achievement["alignment"].append(copy.deepcopy(achievement["alignment"][0]))
    achievement["alignment"].append({"type": ["Alignment"], "targetName": "Same"})
    achievement["alignment"].append({"type": ["Alignment"], "targetName": "Same"})
    with pytest.raises(rdf_fast.Unsupported, match="first-degree hash"):
        rdf_fast.canonicalize(document)
    assert_same(document)


def _define_and_use(document: dict[str, Any], container: str, value: Any) -> None:
    document["@context"].append({"l": {"@id": "http://ex.org/l", "@container": container}})
    document["l"] = value


def _values_pyld_keeps_apart(document: dict[str, Any]) -> None:
    """Values that serialise alike but that pyld keeps apart, writing one N-Quad twice."""
    xsd = "http://www.w3.org/2001/XMLSchema#"
    document["@context"].append(
        {
            "n2": {"@id": "https://schema.org/name", "@type": xsd + "string"},
            "n3": {"@id": "https://schema.org/name", "@type": xsd + "integer"},
            "n4": {"@id": "https://schema.org/name", "@type": xsd + "boolean"},
            "rt": {"@id": "http://www.w3.org/1999/02/22-rdf-syntax-ns#type", "@type": "@id"},
        }
    )
    document.update(name=["x", 5, True, "x", 5], n2="x", n3=["5", 5], n4=[True, "true"])
    document["rt"] = ["https://www.w3.org/2018/credentials#VerifiableCredential"]
    document["issuer"]["name"] = ["dup", "dup"]
    document["evidence"] = [{"name": "same"}, {"name": "same", "n2": "same"}]


_RDF, _XSD = "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://www.w3.org/2001/XMLSchema#"
_COERCIONS = [
    _RDF + "langString",
    _RDF + "JSON",
    _XSD + "double",
    _XSD + "string",
    _XSD + "boolean",
    "https://www.w3.org/ns/i18n#en_ltr",
    "@none",
    "@vocab",
    "@id",
]


def _coerced(kind: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A term coerced to `kind`, some of which pyld writes specially (or not at all)."""

    def change(document: dict[str, Any]) -> None:
        document["@context"].append({"t": {"@id": "http://ex.org/t", "@type": kind}})
        document["t"] = value

    return change


def _typed_evidence(scoped: dict[str, Any], evidence: dict[str, Any]) -> Any:
    """Evidence of a type `T` whose type-scoped context is `scoped` (not propagated)."""

    def change(document: dict[str, Any]) -> None:
        document["@context"].append({"T": {"@id": "http://ex.org/T", "@context": scoped}})
        document["evidence"] = {"type": "T", **evidence}

    return change


_PREFIX_AND_REL = {"ex": "http://scoped.example/", "rel": "http://ex.org/rel"}

# Type- and property-scoped contexts where reverting (or not) changes the quads.
SCOPED: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    (
        "id-only reference keeps the type-scoped context",
        _typed_evidence(_PREFIX_AND_REL, {"rel": {"id": "ex:a"}}),
    ),
    (
        "node reverts the type-scoped context",
        _typed_evidence(_PREFIX_AND_REL, {"rel": {"id": "ex:a", "name": "n"}}),
    ),
    (
        "property-scoped context applies after reverting",
        _typed_evidence(
            {"p": {"@id": "http://ex.org/p", "@context": {"q": "http://prop.example/q"}}},
            {"p": {"q": "v", "r": {"q": "w"}}},
        ),
    ),
    (
        "types expand before their scoped contexts",
        _typed_evidence({"@vocab": "http://scoped.example/"}, {"type": ["T", "U"], "x": "y"}),
    ),
    (
        "reverse term",
        lambda d: (
            d["@context"].append({"rev": {"@reverse": "http://ex.org/r"}}),
            d.update(rev={"id": "urn:x"}),
        ),
    ),
]


# JSON-LD features outside the fast subset, each placed in an otherwise plain credential.
FEATURES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("value object", lambda d: d.update(name={"@value": "x", "@language": "en"})),
    ("typed value", lambda d: d.update(name={"@value": "1", "@type": "http://ex.org/t"})),
    ("language context", lambda d: d["@context"].append({"@language": "en"})),
    ("embedded context", lambda d: d["issuer"].update({"@context": {"x": "http://ex.org/x"}})),
    ("inline term", lambda d: d["@context"].append({"score": "http://ex.org/score"})),
    ("float", lambda d: d.update(name=0.5)),
    ("integral float", lambda d: d.update(name=2.0)),
    ("big integer", lambda d: d.update(name=10**21)),
    ("integer", lambda d: d.update(name=-42)),
    ("boolean", lambda d: d.update(name=[True, False])),
    (
        "typed boolean",
        lambda d: d["credentialSubject"].update(
            identifier=[
                {
                    "type": "IdentityObject",
                    "hashed": False,
                    "identityHash": 5,
                    "identityType": "emailAddress",
                    "salt": True,
                }
            ]
        ),
    ),
    ("dropped term", lambda d: d.update(awardedScore=0.5)),
    ("null", lambda d: d.update(description=None)),
    ("nested array", lambda d: d.update(name=[["a", "b"], "c"])),
    ("empty node", lambda d: d.update(evidence={})),
    ("blank node id", lambda d: d["issuer"].update(id="_:issuer")),
    ("relative id", lambda d: d["issuer"].update(id="issuers/1")),
    ("relative type", lambda d: d.update(type=[*d["type"], "NotATerm"])),
    ("id with space", lambda d: d["issuer"].update(id="did:example:a b")),
    ("placeholder base", lambda d: d["issuer"].update(id="http://example.org/base/x")),
    ("@graph", lambda d: d.update({"@graph": [{"id": "urn:x", "name": "x"}]})),
    ("@included", lambda d: d.update({"@included": [{"id": "urn:x", "name": "x"}]})),
    ("@reverse", lambda d: d.update({"@reverse": {"http://ex.org/r": {"id": "urn:x"}}})),
    ("@nest", lambda d: d.update({"@nest": {"name": "nested"}})),
    ("keyword-like key", lambda d: d.update({"@foo": "bar"})),
    ("unknown term", lambda d: d.update(someUndefinedTerm="x")),
    ("compact IRI key", lambda d: d.update({"schema:name": "x", "ex:y": "z"})),
    ("absolute IRI key", lambda d: d.update({"http://ex.org/p": "v"})),
    ("id-only reference", lambda d: d.update(evidence={"id": "https://ex.org/e"})),
    ("two ids", lambda d: d["issuer"].update({"@id": "did:example:other"})),
    ("non-string id", lambda d: d["issuer"].update(id=5)),
    ("non-string type", lambda d: d.update(type=["VerifiableCredential", 5])),
    ("null type", lambda d: d["issuer"].update(type=None)),
    ("empty type", lambda d: d["issuer"].update(type=[])),
    ("string for a node", lambda d: d.update(credentialSubject="did:example:subject")),
    ("list container", lambda d: _define_and_use(d, "@list", ["a", "b", {"id": "urn:x"}])),
    ("language map", lambda d: _define_and_use(d, "@language", {"en": "x", "de": "y"})),
    ("index map", lambda d: _define_and_use(d, "@index", {"k": {"id": "urn:x"}})),
    ("graph container", lambda d: _define_and_use(d, "@graph", {"id": "urn:x", "name": "x"})),
    ("tricky strings", lambda d: d.update(name=TRICKY_STRINGS)),
    ("values pyld keeps apart", _values_pyld_keeps_apart),
    *(
        (f"coerced to {kind} {value!r}", _coerced(kind, value))
        for kind in _COERCIONS
        for value in ("x", "1.5", 2, True)
    ),
    ("duplicate node", lambda d: d.update(evidence=[d["issuer"], d["issuer"]])),
    ("non-dict input", lambda d: d.update(issuer=["did:example:a", {"id": "did:example:b"}])),
]


@pytest.mark.parametrize(
    ("name", "change"), FEATURES + SCOPED, ids=[name for name, _ in FEATURES + SCOPED]
)
def test_documents_beyond_plain_nodes_canonicalise_as_pyld_does(
    micro_credential: Callable[..., Any], name: str, change: Callable[[dict[str, Any]], None]
) -> None:
    document = micro_credential().to_document()
    document["@context"] = list(document["@context"])
    change(document)
    assert_same(document)


def mutations(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Randomly replace, drop or duplicate values anywhere in a copy of the document."""
    mutated = copy.deepcopy(document)
    replacements: list[Any] = [
        *TRICKY_STRINGS,
        "did:example:123",
        "https://example.org/x#y",
        "urn:uuid:1",
        "Profile",
        "Alignment",
        "ceasn:Competency",
        "xsd:string",
        True,
        False,
        0,
        -7,
        2**60,
        None,
        [],
        {},
        {"id": "urn:x"},
        {"type": "Profile", "name": "n"},
    ]
    for _ in range(rng.randrange(1, 4)):
        parent: Any = mutated
        path = []
        while isinstance(parent, (dict, list)) and parent and rng.random() < 0.8:
            keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
            key = rng.choice(keys)
            if key == "@context":
                break
            path.append((parent, key))
            parent = parent[key]
        if not path:
            continue
        container, key = path[-1]
        action = rng.random()
        if action < 0.6:
            container[key] = copy.deepcopy(rng.choice(replacements))
        elif action < 0.8 and isinstance(container, dict):
            del container[key]
        else:
            container[key] = [copy.deepcopy(container[key]), copy.deepcopy(container[key])]
    return mutated


def test_randomly_mutated_credentials_canonicalise_as_pyld_does(
    micro_credential: Callable[..., Any],
) -> None:
    rng = random.Random(20261123)
    base = micro_credential().to_document()
    status = build_status_list_credential(
        url="https://registrar.example.edu/status/1",
        issuer="did:web:registrar.example.edu",
        purpose="revocation",
        bitstring=Bitstring(),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
    )
    fast = 0
    for n in range(400):
        document = mutations(base if n % 4 else status, rng)
        assert_same(document)
        try:
            rdf_fast.canonicalize(document)
            fast += 1
        except rdf_fast.Unsupported:
            pass
        except Exception:  # noqa: BLE001 - pyld may reject the document: the reference decides
            assert outcome(canonicalize_rdf_reference, document).startswith("Canonicalization")
    assert fast > 100, "the mutations should mostly stay inside the fast subset"


def context_terms() -> list[str]:
    """Every term the shipped contexts define, scoped ones included."""
    found: set[str] = set()
    stack: list[Any] = [load_context(url) for url in known_context_urls()]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            found.update(key for key in item if not key.startswith("@"))
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return sorted(found)


def test_credentials_with_random_known_terms_canonicalise_as_pyld_does(
    micro_credential: Callable[..., Any],
) -> None:
    rng = random.Random(5)
    terms = context_terms()
    values: list[Any] = [
        *TRICKY_STRINGS[:6],
        "did:example:1",
        "https://x.example/a",
        "Profile",
        "Achievement",
        "xsd:string",
        "2026-01-01T00:00:00Z",
        True,
        5,
        None,
        {},
        {"id": "urn:z"},
        {"type": "Profile", "name": "p"},
        {"type": "Alignment", "targetName": "t"},
        ["a", "b"],
    ]
    base = micro_credential().to_document()
    fast = 0
    for _ in range(300):
        document = copy.deepcopy(base)
        for _ in range(rng.randrange(1, 5)):
            node: Any = document
            for _ in range(rng.randrange(4)):
                children = [v for k, v in node.items() if isinstance(v, dict) and k != "@context"]
                if not children:
                    break
                node = rng.choice(children)
            node[rng.choice(terms)] = copy.deepcopy(rng.choice(values))
        assert_same(document)
        try:
            rdf_fast.canonicalize(document)
            fast += 1
        except rdf_fast.Unsupported:
            pass
    assert fast > 100, "random known terms should mostly stay inside the fast subset"


def test_threads_canonicalise_concurrently_as_pyld_does(
    micro_credential: Callable[..., Any],
) -> None:
    documents = list(credential_variants(micro_credential, seed=11))
    expected = [canonicalize_rdf_reference(document) for document in documents]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            assert list(pool.map(canonicalize_rdf, documents)) == expected


def test_a_remembered_achievement_is_written_again_with_its_blank_nodes_renumbered(
    micro_credential: Callable[..., Any],
) -> None:
    # A batch's credentials share their achievement: its triples are written from memory, with
    # its blank nodes (criteria, alignments) numbered after whatever the credential has before.
    rdf_fast._subtree_memo.clear()
    by_did = micro_credential().to_document()
    by_identifier = copy.deepcopy(by_did)
    subject = by_identifier["credentialSubject"]
    del subject["id"]  # the subject becomes a blank node itself, numbered before the achievement
    identity = hashed_identifier("learner@example.edu", identity_type="emailAddress", salt="ab")
    subject["identifier"] = [identity.model_dump(mode="json", by_alias=True)]
    achievement = f"<{by_did['credentialSubject']['achievement']['id']}>"

    first = rdf_fast.canonicalize(by_did)
    remembered = [s for s in rdf_fast._subtree_memo.values() if s.subject == achievement]
    assert len(remembered) == 1
    assert remembered[0].blank_nodes >= 2  # criteria and alignments
    for document in (by_identifier, by_did, by_identifier):
        assert rdf_fast.canonicalize(document) == canonicalize_rdf_reference(document)
    assert first == canonicalize_rdf_reference(by_did)
