"""A fast RDFC-1.0 path for the plain node-object JSON-LD that credentials use.

pyld spends most of a canonicalisation building expanded JSON-LD, a node map and a dataset in
generic dictionaries. For documents made only of node objects, `@id`, `@type`, plain strings,
booleans, integers and `@id`/`@vocab`/datatype-coerced strings, this module walks the compact
document once, asks pyld itself for every context and IRI expansion (so the JSON-LD semantics
stay pyld's, including type- and property-scoped contexts and their reverting), and writes the
N-Quads directly. RDFC-1.0 labelling is done here only when every blank node has a unique
first-degree hash, where the algorithm reduces to sorting those hashes (RDFC-1.0 §4.4.3 step 5).

Anything else (value objects, lists, language tags, graphs, `@nest`, `@reverse`, floats, blank
node ids, relative IRIs, shared first-degree hashes, ...) raises `Unsupported` and the caller uses
pyld's full algorithm. Tests compare both paths byte for byte on a corpus of documents.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from frozendict import frozendict
from pyld import jsonld
from pyld.nquads import escape

from .document_loader import document_loader

_XSD = "http://www.w3.org/2001/XMLSchema#"
_XSD_STRING = _XSD + "string"
_XSD_BOOLEAN = _XSD + "boolean"
_XSD_INTEGER = _XSD + "integer"
_XSD_DOUBLE = _XSD + "double"
_RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
_RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
_MAX_MEMO = 16384  # entries per memo: a few MB at most
# Integers at or beyond 1e21 become xsd:double in JSON-LD 1.1 toRDF.
_MAX_INTEGER = 10**21


class Unsupported(Exception):  # noqa: N818 - a signal to fall back, not an error
    """The document uses a JSON-LD feature this path leaves to pyld."""


def _options() -> dict[str, Any]:
    """The options pyld's own normalize() would pass down to expansion."""
    return {
        "base": "",
        "documentLoader": document_loader,
        "contextResolver": jsonld.ContextResolver(jsonld._resolved_context_cache, document_loader),
        "extractAllScripts": True,
        "processingMode": "json-ld-1.1",
        "isFrame": False,
        "keepFreeFloatingNodes": False,
        "produceGeneralizedRdf": False,
    }


_local = threading.local()
# Memos keyed by pyld's `_uuid` of an active context: every processed context gets a fresh
# uuid1 and pyld never mutates a context once processed, so a uuid names one fixed context.
_iri_memo: dict[tuple[str, str, bool, bool], str | None] = {}
_iri_term_memo: dict[tuple[Any, ...], str | Unsupported] = {}
_context_memo: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def _state() -> tuple[jsonld.JsonLdProcessor, dict[str, Any]]:
    state = getattr(_local, "state", None)
    if state is None:
        state = _local.state = (jsonld.JsonLdProcessor(), _options())
    return state


def _remember(memo: dict[Any, Any], key: Any, value: Any, *, limit: int = _MAX_MEMO) -> None:
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value


def _iri(ctx: Any, value: str, *, vocab: bool, base: bool) -> str:
    uuid = ctx.get("_uuid")
    if uuid is None:
        raise Unsupported("active context without an id")
    key = (uuid, value, vocab, base)
    try:
        found = _iri_memo[key]
    except KeyError:
        processor, options = _state()
        found = processor._expand_iri(
            ctx, value, base=options["base"] if base else None, vocab=vocab
        )
        _remember(_iri_memo, key, found)
    if found is None:
        raise Unsupported(f"{value!r} does not expand to an IRI")
    return found


def _absolute(iri: str) -> str:
    """Return `<iri>` for an absolute, non-placeholder IRI; anything else goes to pyld."""
    if iri.startswith(("_:", jsonld.DEFAULT_BASE_IRI)) or not jsonld._is_absolute_iri(iri):
        raise Unsupported(f"{iri!r} is not an absolute IRI")
    return f"<{iri}>"


def _iri_term(ctx: Any, value: str, *, vocab: bool) -> str:
    """Return `<iri>` for a value expanded as an IRI (an `@id`, `@type` or coerced string)."""
    key = (ctx.get("_uuid"), value, vocab)
    found = _iri_term_memo.get(key)
    if found is None:
        try:
            found = _absolute(_iri(ctx, value, vocab=vocab, base=True))
        except Unsupported as error:
            found = Unsupported(str(error))
        _remember(_iri_term_memo, key, found)
    if type(found) is not str:
        raise Unsupported(str(found))
    return found


def _process(ctx: Any, local: Any, *, propagate: bool = True, override: bool = False) -> Any:
    """Apply a local context with pyld, memoised for URLs and the frozen loaded contexts."""
    processor, options = _state()
    uuid = ctx.get("_uuid")
    if uuid is None:
        raise Unsupported("active context without an id")
    ident: Any
    if isinstance(local, frozendict):
        ident = id(local)  # kept alive by the memo entry, so the id is not reused
    elif isinstance(local, str):
        ident = local
    elif isinstance(local, list) and all(isinstance(item, str) for item in local):
        ident = tuple(local)
    else:  # a mutable context embedded in the document: processed afresh
        return processor._process_context(
            ctx, local, options, override_protected=override, propagate=propagate
        )
    key = (uuid, ident, propagate, override)
    found = _context_memo.get(key)
    if found is not None and (type(ident) is not int or found[0] is local):
        return found[1]
    processed = processor._process_context(
        ctx, local, options, override_protected=override, propagate=propagate
    )
    _remember(_context_memo, key, (local, processed))
    return processed


def _term(ctx: Any, key: str, entry: str) -> Any:
    return jsonld.JsonLdProcessor.get_context_value(ctx, key, entry)


_SKIP, _ID, _TYPE, _PROPERTY = range(4)

_Triple = tuple[str, str, str, Any]


@dataclass(frozen=True, slots=True)
class _Subtree:
    """The triples a nested node wrote, to write again for the same node in the same context.

    Its blank nodes were numbered from `first_blank`, `blank_nodes` of them: a replay shifts
    them to the writer's next free numbers. The credentials of a batch share an achievement
    (and its criteria and alignments): writing it took about a third of a credential's RDF.
    """

    property_ctx: Any  # kept alive, so that its `id` in the key names it alone
    subject: str
    triples: tuple[_Triple, ...]
    first_blank: int
    blank_nodes: int


_MAX_SUBTREES = 512  # an achievement's triples are a few kB
_subtree_memo: dict[tuple[Any, int, bytes], _Subtree] = {}
# Keyed by the node's JSON: a node's triples depend only on it, the active context and the
# property's scoped context (`node`'s arguments); lists and tuples serialise alike, but
# documents reach here from JSON or model dumps, which have lists only.


@dataclass(frozen=True, slots=True)
class _Property:
    """How the values of one term are written, in one active context."""

    predicate: str
    context: Any  # the active context for the values (with any property-scoped context)
    scoped: Any  # the property-scoped context nodes re-apply after reverting (pyld `_expand`)
    coerce: Any  # the term's type mapping
    tagged: bool  # whether plain strings would get a language or direction


_Plan = int | _Property | str  # a str is the reason the fast path gives up
_plan_memo: dict[tuple[str, str], _Plan] = {}


def _plan(ctx: Any, key: str) -> int | _Property:
    uuid = ctx.get("_uuid")
    if uuid is None:
        raise Unsupported("active context without an id")
    found = _plan_memo.get((uuid, key))
    if found is None:
        try:
            found = _make_plan(ctx, key)
        except Unsupported as error:
            found = str(error)
        _remember(_plan_memo, (uuid, key), found)
    if isinstance(found, str):
        raise Unsupported(found)
    return found


def _make_plan(ctx: Any, key: str) -> int | _Property:
    """Mirror pyld `_expand_object` for one key: keyword, dropped, or a plain term."""
    if key == "@context":
        return _SKIP
    expanded = _iri(ctx, key, vocab=True, base=False)
    if expanded == "@id":
        return _ID
    if expanded == "@type":
        return _TYPE
    if expanded.startswith("@"):
        raise Unsupported(f"keyword {expanded}")
    if not jsonld._is_absolute_iri(expanded):
        return _SKIP  # pyld drops properties that expand to no absolute IRI
    predicate = _absolute(expanded)
    term_ctx = ctx
    scoped = _term(ctx, key, "@context")
    if scoped is not None:
        term_ctx = _process(ctx, scoped, override=True)
    container = _as_list(_term(ctx, key, "@container"))
    if any(kind != "@set" for kind in container):
        raise Unsupported(f"container {container}")
    mapping = term_ctx["mappings"].get(key)
    if mapping and mapping.get("reverse"):
        raise Unsupported("reverse property")
    if _term(ctx, key, "@type") == "@json":
        raise Unsupported("@json")
    if _iri(term_ctx, key, vocab=True, base=False).startswith("@"):
        raise Unsupported("property-scoped context turns the term into a keyword")
    coerce = _term(term_ctx, key, "@type")
    if coerce is not None and coerce not in ("@id", "@vocab", "@none"):
        if coerce in (_XSD_DOUBLE, _RDF_LANGSTRING):
            raise Unsupported(f"{coerce} coercion")  # pyld rewrites or drops these
        _absolute(coerce)
    tagged = (
        _term(term_ctx, key, "@language") is not None
        or _term(term_ctx, key, "@direction") is not None
    )
    return _Property(predicate, term_ctx, _term(term_ctx, key, "@context"), coerce, tagged)


class _Writer:
    """Collects the triples of one document, with blank nodes `_:b0`, `_:b1`, ..."""

    def __init__(self) -> None:
        # The fourth member tells apart what pyld keeps as distinct values even when they
        # serialise alike (`5` and `"5"` coerced to xsd:integer, `@type` and an explicit
        # rdf:type): pyld then writes the same N-Quad twice, and so must this path.
        self.triples: list[_Triple] = []  # repeats are dropped at the end (`to_triples`)
        self.blank_nodes = 0

    def node(self, ctx: Any, property_ctx: Any, element: dict[str, Any]) -> str:
        """Write a nested node object's triples; one with an id (an achievement, a profile) is
        written from memory when the same one was written in the same context before."""
        uuid = ctx.get("_uuid")
        if uuid is None or ("id" not in element and "@id" not in element):
            return self._node(ctx, property_ctx, element)
        try:
            content = orjson.dumps(element, option=orjson.OPT_PASSTHROUGH_SUBCLASS)
        except TypeError:  # not plain JSON data: never remembered
            return self._node(ctx, property_ctx, element)
        key = (uuid, id(property_ctx), content)
        found = _subtree_memo.get(key)
        if found is None or found.property_ctx is not property_ctx:
            start, first_blank = len(self.triples), self.blank_nodes
            subject = self._node(ctx, property_ctx, element)
            found = _Subtree(
                property_ctx,
                subject,
                tuple(self.triples[start:]),
                first_blank,
                self.blank_nodes - first_blank,
            )
            _remember(_subtree_memo, key, found, limit=_MAX_SUBTREES)
            return subject
        return self._replay(found)

    def _replay(self, subtree: _Subtree) -> str:
        """Write a remembered subtree again, its blank nodes renumbered from the next free one."""
        shift = self.blank_nodes - subtree.first_blank
        self.blank_nodes += subtree.blank_nodes
        if shift == 0 or subtree.blank_nodes == 0:
            self.triples += subtree.triples
            return subtree.subject

        def moved(term: str) -> str:
            return f"_:b{int(term[3:]) + shift}" if term[0] == "_" else term

        self.triples += [(moved(s), p, moved(o), distinct) for s, p, o, distinct in subtree.triples]
        return moved(subtree.subject)

    def _node(self, ctx: Any, property_ctx: Any, element: dict[str, Any], top: bool = False) -> str:
        """Write a node object's triples (mirrors pyld `_expand` for node objects)."""
        previous = ctx.get("previousContext")
        if previous is not None:
            must_revert = True
            if len(element) <= 2 and "@context" not in element:
                for key in sorted(element):
                    expanded = _iri(ctx, key, vocab=True, base=False)
                    if expanded == "@value":
                        raise Unsupported("value object")
                    if expanded == "@id" and len(element) == 1:
                        must_revert = False
                        break
            if must_revert:
                ctx = previous
        if property_ctx is not None:
            ctx = _process(ctx, property_ctx, override=True)
        if "@context" in element:
            local = element["@context"]
            if not top or (isinstance(local, Mapping) and "@context" in local):
                raise Unsupported("embedded or nested @context")
            ctx = _process(ctx, local)
        type_scoped = ctx
        keys = sorted(element)
        for key in keys:
            if key == "@context" or _iri(ctx, key, vocab=True, base=False) != "@type":
                continue
            for type_name in sorted(t for t in _as_list(element[key]) if isinstance(t, str)):
                scoped = _term(type_scoped, type_name, "@context")
                if scoped is not None and scoped is not False:
                    ctx = _process(ctx, scoped, propagate=False)

        subject: str | None = None
        types: list[str] = []
        properties: list[tuple[_Property, Any]] = []
        for key in keys:
            plan = _plan(ctx, key)
            value = element[key]
            if type(plan) is _Property:
                properties.append((plan, value))
            elif plan == _ID:
                if subject is not None or not isinstance(value, str):
                    raise Unsupported("@id is repeated or not a string")
                subject = _iri_term(ctx, value, vocab=False)
            elif plan == _TYPE:
                if value is None:
                    raise Unsupported("@type is null")
                for type_name in _as_list(value):
                    if not isinstance(type_name, str):
                        raise Unsupported("@type value is not a string")
                    types.append(_iri_term(type_scoped, type_name, vocab=True))
        if subject is None:
            subject = f"_:b{self.blank_nodes}"
            self.blank_nodes += 1
        add = self.triples.append
        for type_iri in types:
            add((subject, _RDF_TYPE, type_iri, "@type"))
        for plan, value in properties:
            for item in value if type(value) is list else (value,):
                if item is None:
                    continue
                if type(item) is dict:
                    add((subject, plan.predicate, self.node(plan.context, plan.scoped, item), None))
                elif type(item) is list:
                    raise Unsupported("nested array")
                else:
                    add((subject, plan.predicate, *_scalar(plan, item)))
        return subject


def _scalar(plan: _Property, value: Any) -> tuple[str, Any]:
    """The RDF term of a scalar value and what makes it distinct for pyld (`compare_values`).

    Mirrors pyld `_expand_value` and `_object_to_rdf`.
    """
    coerce = plan.coerce
    if coerce == "@id" or coerce == "@vocab":
        if type(value) is not str:
            raise Unsupported("non-string IRI value")
        return _iri_term(plan.context, value, vocab=coerce == "@vocab"), None
    kind = type(value)
    if kind is str:
        lexical, datatype = escape(value), _XSD_STRING
        if plan.tagged and (coerce is None or coerce == "@none"):
            raise Unsupported("language-tagged or directional string")
    elif kind is bool:
        lexical, datatype = ("true" if value else "false"), _XSD_BOOLEAN
    elif kind is int and abs(value) < _MAX_INTEGER:
        lexical, datatype = str(value), _XSD_INTEGER
    else:
        raise Unsupported(f"{kind.__name__} value")
    value_type = None
    if coerce is not None and coerce != "@none":
        datatype = value_type = coerce  # a datatype IRI, checked when the plan was made
    term = f'"{lexical}"' if datatype == _XSD_STRING else f'"{lexical}"^^<{datatype}>'
    return term, (kind, value_type)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def to_triples(document: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Return the document's triples as N-Quads terms (blank nodes `_:bN`) or raise Unsupported.

    Like pyld's dataset, the list may hold the same triple twice (see `_Writer`).
    """
    processor, options = _state()
    writer = _Writer()
    root = document if type(document) is dict else dict(document)
    writer._node(processor._get_initial_context(options), None, root, top=True)
    return [(s, p, o) for s, p, o, _ in set(writer.triples)]


def canonicalize(document: Mapping[str, Any]) -> str:
    """Return RDFC-1.0 canonical N-Quads, or raise Unsupported for pyld to handle."""
    triples = to_triples(document)
    mentions: dict[str, list[tuple[str, str, str]]] = {}
    for triple in triples:
        subject, _, obj = triple
        if subject[0] == "_":
            mentions.setdefault(subject, []).append(triple)
        if obj[0] == "_":
            mentions.setdefault(obj, []).append(triple)
    by_hash: dict[str, str] = {}
    for label, mentioned in mentions.items():
        lines = sorted(
            f"{_first_degree(s, label)} {p} {_first_degree(o, label)} .\n" for s, p, o in mentioned
        )
        by_hash[hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()] = label
    if len(by_hash) != len(mentions):
        raise Unsupported("blank nodes share a first-degree hash")
    canonical = {label: f"_:c14n{n}" for n, (_, label) in enumerate(sorted(by_hash.items()))}
    get = canonical.get
    return "".join(sorted(f"{get(s, s)} {p} {get(o, o)} .\n" for s, p, o in triples))


def _first_degree(term: str, label: str) -> str:
    if term[0] == "_":
        return "_:a" if term == label else "_:z"
    return term
