"""`MaterialFetcher`: did:web documents and status lists, fetched as a verifier would, only so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from credreg_shared.credentials.bitstring import Bitstring
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.dids import did_web_document
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.resolution import MaterialFetcher, parse_host_map
from credreg_shared.credentials.status_list import (
    build_status_list_credential,
    status_list_entry,
)
from credreg_shared.credentials.verification import verify_credential

ISSUER = "did:web:localhost%3A8001:institutions:uni"
METHOD = f"{ISSUER}#key-1"
LIST_URL = "https://localhost:8001/v1/status-lists/uni-1"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
HOSTS = {"localhost%3A8001": "http://issuer.internal"}


@pytest.fixture(scope="module")
def key() -> Ed25519KeyPair:
    return Ed25519KeyPair.generate()


def served(key: Ed25519KeyPair, revoked: int | None) -> dict[str, Any]:
    """What the issuer would serve: its DID document and a signed status list."""
    bits = Bitstring()
    if revoked is not None:
        bits.set(revoked, True)
    status_list = add_proof(
        build_status_list_credential(
            url=LIST_URL,
            issuer=ISSUER,
            purpose="revocation",
            bitstring=bits,
            valid_from=NOW - timedelta(1),
        ),
        key_pair=key,
        verification_method=METHOD,
    )
    return {
        "/institutions/uni/did.json": did_web_document(ISSUER, {"key-1": key.public_key_bytes}),
        "/v1/status-lists/uni-1": status_list,
    }


def transport(pages: dict[str, Any], seen: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host != "issuer.internal" or request.url.path not in pages:
            return httpx.Response(404)
        return httpx.Response(200, json=pages[request.url.path])

    return httpx.MockTransport(answer)


def credential(micro_credential: Any, key: Ed25519KeyPair, index: int) -> dict[str, Any]:
    entry = status_list_entry(status_list_credential=LIST_URL, index=index, purpose="revocation")
    document = micro_credential(issuer=ISSUER, credential_status=[entry]).to_document()
    signed: dict[str, Any] = add_proof(document, key_pair=key, verification_method=METHOD)
    return signed


@pytest.mark.parametrize(("index", "revoked"), [(5, None), (5, 5)], ids=["active", "revoked"])
async def test_a_mapped_did_web_and_status_list_are_fetched_and_every_check_runs(
    micro_credential: Any, key: Ed25519KeyPair, index: int, revoked: int | None
) -> None:
    seen: list[str] = []
    async with httpx.AsyncClient(transport=transport(served(key, revoked), seen)) as client:
        material = await MaterialFetcher(client, host_map=HOSTS).fetch_for(
            credential(micro_credential, key, index)
        )
    assert material.problems == []
    assert set(material.controller_documents) == {ISSUER}
    assert set(material.status_list_credentials) == {LIST_URL}
    # The DID document once, though the credential and its list both name that issuer.
    assert seen == [
        "http://issuer.internal/institutions/uni/did.json",
        "http://issuer.internal/v1/status-lists/uni-1",
    ]
    report = verify_credential(
        credential(micro_credential, key, index),
        controller_documents=material.controller_documents,
        status_list_credentials=material.status_list_credentials,
        now=NOW,
    )
    assert report.check("proof").outcome is Outcome.PASSED
    assert report.check("issuer").outcome is Outcome.PASSED
    expected = Outcome.FAILED if revoked is not None else Outcome.PASSED
    assert report.check("revocation").outcome is expected


async def test_what_cannot_be_fetched_is_reported_and_its_check_fails(
    micro_credential: Any, key: Ed25519KeyPair
) -> None:
    pages = served(key, None)
    del pages["/v1/status-lists/uni-1"]
    async with httpx.AsyncClient(transport=transport(pages, [])) as client:
        material = await MaterialFetcher(client, host_map=HOSTS).fetch_for(
            credential(micro_credential, key, 1)
        )
    assert material.problems == [f"status list {LIST_URL}: HTTP 404"]
    report = verify_credential(
        credential(micro_credential, key, 1),
        controller_documents=material.controller_documents,
        status_list_credentials=material.status_list_credentials,
        now=NOW,
    )
    assert report.check("revocation").outcome is Outcome.FAILED


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://registrar.example/did.json", "only https"),
        ("https://user:pw@registrar.example/did.json", "credentials"),
        ("https://127.0.0.1/did.json", "non-public"),
        ("https://localhost/did.json", "non-public"),
    ],
)
async def test_unmapped_urls_must_be_https_to_public_addresses(url: str, reason: str) -> None:
    seen: list[str] = []
    async with httpx.AsyncClient(transport=transport({}, seen)) as client:
        fetcher = MaterialFetcher(client)
        with pytest.raises(Exception, match=reason):
            await fetcher.get_json(url)
    assert seen == []  # refused before any request


async def test_large_and_non_object_answers_are_refused() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/big":
            return httpx.Response(200, content=b"[" + b"0," * 600_000 + b"0]")
        return httpx.Response(200, content=json.dumps(["not", "an", "object"]).encode())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        fetcher = MaterialFetcher(client, host_map={"registrar.example": "http://x"})
        with pytest.raises(Exception, match="larger than"):
            await fetcher.get_json("https://registrar.example/big")
        with pytest.raises(Exception, match="not a JSON object"):
            await fetcher.get_json("https://registrar.example/list")


def test_host_maps_are_host_equals_base_url() -> None:
    assert parse_host_map(["localhost%3A8001=http://127.0.0.1:8001/"]) == {
        "localhost%3A8001": "http://127.0.0.1:8001"
    }
    for bad in ["localhost", "=http://x", "h=ftp://x", "h=notaurl"]:
        with pytest.raises(ValueError, match="host="):
            parse_host_map([bad])
