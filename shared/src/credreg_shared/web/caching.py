"""Conditional GETs of public documents (contexts, status lists): ETag, If-None-Match, 304."""

from __future__ import annotations


def public_cache_headers(etag: str, cache_control: str) -> dict[str, str]:
    """The caching headers of a public document, readable from any origin (browser verifiers)."""
    return {"ETag": etag, "Cache-Control": cache_control, "Access-Control-Allow-Origin": "*"}


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak or strong) or ``*``: answer 304."""
    tags = {tag.strip().removeprefix("W/") for tag in (if_none_match or "").split(",")}
    return etag in tags or "*" in tags
