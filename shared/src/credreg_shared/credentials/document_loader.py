"""Offline JSON-LD document loader: serves the shipped contexts and refuses every other URL."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from frozendict import deepfreeze

CREDENTIALS_V2_URL = "https://www.w3.org/ns/credentials/v2"
CREDENTIALS_EXAMPLES_V2_URL = "https://www.w3.org/ns/credentials/examples/v2"
OPEN_BADGES_V3_URL = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
MICROCREDENTIAL_V1_URL = "https://w3id.org/credreg/v1"
"""credreg's extension context (a permanent-identifier redirect, registered outside this repo, to
the registry's `/contexts/v1`)."""
DATA_INTEGRITY_V2_URL = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1_URL = "https://w3id.org/security/multikey/v1"
DID_V1_URL = "https://www.w3.org/ns/did/v1"
CID_V1_URL = "https://www.w3.org/ns/cid/v1"
BITSTRING_STATUS_LIST_V1_URL = "https://www.w3.org/ns/credentials/status/v1"

_CONTEXTS = resources.files(__package__) / "contexts"


class DocumentLoaderError(LookupError):
    """Raised for any URL that is not one of the shipped contexts."""


@cache
def _index() -> dict[str, tuple[str, str]]:
    data = json.loads((_CONTEXTS / "index.json").read_text(encoding="utf-8"))
    return {entry["url"]: (entry["file"], entry["sha256"]) for entry in data["contexts"]}


def known_context_urls() -> frozenset[str]:
    """Return every URL the loader serves."""
    return frozenset(_index())


@cache
def context_bytes(url: str) -> tuple[bytes, str]:
    """The shipped file of a known context URL, as published, and its SHA-256 (hex)."""
    try:
        file_name, sha256 = _index()[url]
    except KeyError:
        raise DocumentLoaderError(f"refusing to load unknown JSON-LD document {url!r}") from None
    raw = (_CONTEXTS / file_name).read_bytes()
    # A corrupted or edited context would silently change every signature.
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise DocumentLoaderError(f"context file {file_name} does not match its SHA-256")
    return raw, sha256


@cache
def load_context(url: str) -> Any:
    """Return the parsed, deeply frozen context document for a known URL."""
    raw, _sha256 = context_bytes(url)
    # Frozen so that no caller, pyld included, can mutate the shared copy.
    return deepfreeze(json.loads(raw))


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld-compatible loader: a remote document for a shipped context, else an error."""
    return {
        "contextUrl": None,
        "documentUrl": url,
        "document": load_context(url),
        # "static" lets pyld keep the resolved context across operations.
        "tag": "static",
    }
