"""DIDs: `did:key` resolution, `did:web` documents and verification-method lookup (no network)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from .document_loader import DID_V1_URL, MULTIKEY_V1_URL
from .keys import KeyFormatError, decode_public_multikey, encode_public_multikey

VERIFICATION_RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
)


class KeyResolutionError(LookupError):
    """Raised when a verification method cannot be resolved to a usable public key."""


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """A verification method resolved to its raw Ed25519 public key."""

    verification_method: str
    controller: str
    public_key: bytes


def did_key_for(public_key: bytes) -> str:
    """Return the `did:key` DID of an Ed25519 public key."""
    return "did:key:" + encode_public_multikey(public_key)


def resolve_did_key(did: str) -> dict[str, Any]:
    """Build the DID document of an Ed25519 `did:key` DID (with or without fragment)."""
    did = did.split("#", 1)[0]
    if not did.startswith("did:key:"):
        raise KeyResolutionError(f"not a did:key DID: {did!r}")
    multikey = did.removeprefix("did:key:")
    try:
        decode_public_multikey(multikey)
    except KeyFormatError as error:
        raise KeyResolutionError(f"unsupported did:key: {error}") from None
    method_id = f"{did}#{multikey}"
    document: dict[str, Any] = {
        "@context": [DID_V1_URL, MULTIKEY_V1_URL],
        "id": did,
        "verificationMethod": [
            {
                "id": method_id,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": multikey,
            }
        ],
    }
    for relationship in VERIFICATION_RELATIONSHIPS:
        document[relationship] = [method_id]
    return document


def did_web_for(host: str, *path: str) -> str:
    """Return the `did:web` DID for a host (port allowed) and optional path segments."""
    return ":".join(["did:web", quote(host, safe=""), *(quote(p, safe="") for p in path)])


def did_web_url(did: str) -> str:
    """Return the HTTPS URL where a `did:web` DID document is published."""
    if not did.startswith("did:web:"):
        raise KeyResolutionError(f"not a did:web DID: {did!r}")
    host, *path = did.removeprefix("did:web:").split("#", 1)[0].split(":")
    segments = [unquote(host), *(unquote(p) for p in path)]
    if not path:
        segments.append(".well-known")
    return "https://" + "/".join(segments) + "/did.json"


def did_web_document(did: str, public_keys: Mapping[str, bytes]) -> dict[str, Any]:
    """Build an issuer's `did:web` document: one Multikey per key id, all for `assertionMethod`."""
    if not did.startswith("did:web:"):
        raise KeyResolutionError(f"not a did:web DID: {did!r}")
    methods = [
        {
            "id": f"{did}#{key_id}",
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": encode_public_multikey(public_key),
        }
        for key_id, public_key in public_keys.items()
    ]
    method_ids = [method["id"] for method in methods]
    return {
        "@context": [DID_V1_URL, MULTIKEY_V1_URL],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": method_ids,
        "authentication": method_ids,
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _find_method(document: Mapping[str, Any], method_id: str) -> Mapping[str, Any] | None:
    for method in _as_list(document.get("verificationMethod", [])):
        if isinstance(method, Mapping) and method.get("id") == method_id:
            return method
    return None


def _is_authorized(document: Mapping[str, Any], method_id: str, purpose: str) -> bool:
    for entry in _as_list(document.get(purpose, [])):
        if entry == method_id or (isinstance(entry, Mapping) and entry.get("id") == method_id):
            return True
    return False


def resolve_verification_method(
    method_id: str,
    *,
    purpose: str = "assertionMethod",
    documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> ResolvedKey:
    """Resolve a verification method id to its public key, checking it is allowed for `purpose`.

    `did:key` resolves locally; any other controller (e.g. `did:web`) must be among `documents`,
    keyed by document id, since nothing is fetched over the network.
    """
    if not isinstance(method_id, str) or not method_id:
        raise KeyResolutionError("verificationMethod is missing or not a string")
    controller_id, _, fragment = method_id.partition("#")
    if controller_id.startswith("did:key:"):
        document: Mapping[str, Any] = resolve_did_key(controller_id)
        if not fragment:
            # Some issuers reference a did:key without its (implied) fragment.
            method_id = f"{controller_id}#{controller_id.removeprefix('did:key:')}"
    elif documents is not None and controller_id in documents:
        document = documents[controller_id]
    else:
        raise KeyResolutionError(f"no controller document known for {controller_id!r}")
    if document.get("id") != controller_id:
        raise KeyResolutionError(f"controller document id is not {controller_id!r}")
    method = _find_method(document, method_id)
    if method is None:
        raise KeyResolutionError(f"{method_id!r} is not in its controller document")
    if method.get("controller") != controller_id:
        raise KeyResolutionError(f"{method_id!r} is not controlled by {controller_id!r}")
    if not _is_authorized(document, method_id, purpose):
        raise KeyResolutionError(f"{method_id!r} is not authorized for {purpose}")
    if method.get("type") != "Multikey":
        raise KeyResolutionError(f"unsupported verification method type {method.get('type')!r}")
    try:
        public_key = decode_public_multikey(str(method.get("publicKeyMultibase", "")))
    except KeyFormatError as error:
        raise KeyResolutionError(f"{method_id!r}: {error}") from None
    return ResolvedKey(
        verification_method=method_id, controller=controller_id, public_key=public_key
    )
