"""Canonical forms that Data Integrity hashes: RDFC-1.0 N-Quads and RFC 8785 JCS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import rfc8785
from pyld import jsonld

from . import context_cache, rdf_fast
from .document_loader import document_loader

context_cache.install()

_PYLD_PLACEHOLDER_BASE = "<http://example.org/base/"
_MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """Raised when a document cannot be expanded to RDF or serialized as JCS."""


def canonicalize_rdf(document: Mapping[str, Any]) -> str:
    """Return the RDFC-1.0 canonical N-Quads of a JSON-LD document (contexts loaded offline).

    Uses `rdf_fast` when the document stays within its subset of JSON-LD, else pyld; tests
    check both give the same bytes as `canonicalize_rdf_reference`.
    """
    try:
        return rdf_fast.canonicalize(document)
    except (rdf_fast.Unsupported, jsonld.JsonLdError):
        # pyld gives the answer, or the error the document deserves.
        return canonicalize_rdf_reference(document)


def canonicalize_rdf_reference(document: Mapping[str, Any]) -> str:
    """Return the RDFC-1.0 canonical N-Quads computed by pyld alone (the reference path)."""
    options = {
        "algorithm": "URDNA2015",  # pyld's name for RDFC-1.0 (same output, SHA-256)
        "format": "application/n-quads",
        "documentLoader": document_loader,
    }
    try:
        result = jsonld.normalize(dict(document), options)
    except jsonld.JsonLdError as error:
        raise CanonicalizationError(f"JSON-LD processing failed: {_root_cause(error)}") from None
    if not isinstance(result, str):
        raise CanonicalizationError("JSON-LD processor did not return N-Quads")
    if _PYLD_PLACEHOLDER_BASE in result:
        # jsonld.js drops relative IRIs, pyld resolves them against a placeholder base: the
        # two would sign different data, so refuse them as jsonld.js "safe mode" does.
        raise CanonicalizationError("document uses a relative IRI (an undefined type or id)")
    return result


def canonicalize_jcs(document: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value."""
    if _json_dumps_is_jcs(document):
        # Same bytes as JCS for this value (checked against rfc8785 in the tests), ~40x faster.
        try:
            return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate or deep nesting: rfc8785 decides
    try:
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as error:
        raise CanonicalizationError(f"JCS canonicalization failed: {error}") from None


def _json_dumps_is_jcs(value: Any) -> bool:
    """Whether sorted-key JSON (orjson) gives the JCS form: plain JSON types, no floats, ASCII keys.

    Floats need ECMAScript number formatting and non-ASCII keys UTF-16 ordering; both are
    left to rfc8785, as is anything that is not exactly a dict, list, str, int, bool or None.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            try:
                if not "".join(item).isascii():
                    return False
            except TypeError:  # a non-string key
                return False
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif kind is int:
            if not -_MAX_SAFE_INTEGER <= item <= _MAX_SAFE_INTEGER:
                return False
        else:
            return False
    return True


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or getattr(error, "cause", None) is not None:
        error = error.__cause__ or error.cause  # type: ignore[attr-defined]
    return str(error).splitlines()[0] if str(error) else type(error).__name__
