"""Fetch what verifying a credential needs: `did:web` documents and status list credentials.

`did:web` DIDs resolve to ``https://<host>/<path>/did.json``; each status entry names its list's
URL, and a list credential's issuer is resolved too, so that its own proof is checked. A
*host map* sends a host to another base URL (``localhost%3A8001`` → ``http://127.0.0.1:8001``:
how a local deployment is verified end to end). Everything else must be ``https`` to public
addresses, each answer at most `max_bytes` of JSON; whatever cannot be fetched is reported, and
the check that needed it then fails with its own reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from credreg_shared.addresses import HostUnresolvable, is_public, resolve

from .dids import KeyResolutionError, did_web_url
from .status_list import status_entries
from .verification import VerificationMaterial

MAX_DOCUMENT_BYTES = 1_000_000


class FetchRefused(Exception):
    """A URL credreg will not fetch, or an answer it will not use."""


def parse_host_map(entries: Iterable[str]) -> dict[str, str]:
    """``host=base-url`` pairs (a did:web host as written in the DID, e.g. ``localhost%3A8001``)."""
    mapped: dict[str, str] = {}
    for entry in entries:
        host, separator, base = entry.partition("=")
        parts = urlsplit(base)
        if not separator or not host or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected host=http(s)://base, got {entry!r}")
        mapped[host.strip()] = base.rstrip("/")
    return mapped


class MaterialFetcher:
    """Fetches DID documents and status lists over HTTP(S) for `verify_credential`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        host_map: Mapping[str, str] | None = None,
        allow_private: bool = False,
        max_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self.client = client
        self.host_map = dict(host_map or {})
        self.allow_private = allow_private
        self.max_bytes = max_bytes

    async def fetch_for(self, credential: Any) -> VerificationMaterial:
        """The documents `credential`'s checks need (none for did:key issuers, resolved offline)."""
        material = VerificationMaterial()
        if not isinstance(credential, Mapping):
            return material
        await self._controllers(credential, material)
        for entry in status_entries(credential):
            url = entry.get("statusListCredential") if isinstance(entry, Mapping) else None
            if not isinstance(url, str) or url in material.status_list_credentials:
                continue
            try:
                material.status_list_credentials[url] = await self.get_json(url)
            except FetchRefused as error:
                material.problems.append(f"status list {url}: {error}")
                continue
            await self._controllers(material.status_list_credentials[url], material)
        return material

    async def _controllers(self, secured: Mapping[str, Any], found: VerificationMaterial) -> None:
        """Resolve the issuer and every proof's controller that is a did:web."""
        for did in _controller_dids(secured):
            if did in found.controller_documents or not did.startswith("did:web:"):
                continue
            try:
                found.controller_documents[did] = await self.get_json(did_web_url(did))
            except (FetchRefused, KeyResolutionError) as error:
                found.problems.append(f"{did}: {error}")

    def _mapped(self, url: str) -> tuple[str, bool]:
        """The URL to fetch, and whether the host map chose it (then trusted as configured)."""
        parts = urlsplit(url)
        for host, base in self.host_map.items():
            if parts.netloc == host or parts.netloc.replace(":", "%3A") == host:
                query = f"?{parts.query}" if parts.query else ""
                return f"{base}{parts.path}{query}", True
        return url, False

    async def get_json(self, url: str) -> dict[str, Any]:
        """One JSON object from `url`, within the rules above; `FetchRefused` otherwise."""
        target, mapped = self._mapped(url)
        parts = urlsplit(target)
        if not mapped:
            if parts.scheme != "https" or not parts.hostname:
                raise FetchRefused("only https URLs are fetched")
            if parts.username or parts.password:
                raise FetchRefused("URLs with credentials are not fetched")
            if not self.allow_private:
                try:
                    addresses = await resolve(parts.hostname)
                except HostUnresolvable as error:
                    raise FetchRefused(str(error)) from None
                if not all(is_public(a) for a in addresses):
                    raise FetchRefused("the host resolves to a non-public address")
        try:
            async with self.client.stream(
                "GET", target, headers={"Accept": "application/json, application/ld+json"}
            ) as response:
                if response.status_code != 200:
                    raise FetchRefused(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FetchRefused(f"answer larger than {self.max_bytes} bytes")
        except httpx.HTTPError as error:
            raise FetchRefused(f"{type(error).__name__}: {error}") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise FetchRefused("the answer is not JSON") from None
        if not isinstance(document, dict):
            raise FetchRefused("the answer is not a JSON object")
        return document


def _controller_dids(secured: Mapping[str, Any]) -> list[str]:
    """The issuer's DID and the controller of every proof's verification method."""
    issuer = secured.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    dids = [issuer_id] if isinstance(issuer_id, str) else []
    proofs = secured.get("proof")
    for proof in proofs if isinstance(proofs, list) else [proofs]:
        method = proof.get("verificationMethod") if isinstance(proof, Mapping) else None
        if isinstance(method, str):
            dids.append(method.split("#", 1)[0])
    return list(dict.fromkeys(d for d in dids if d.startswith("did:")))
