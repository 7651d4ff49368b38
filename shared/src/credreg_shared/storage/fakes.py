"""In-memory stand-ins for the storage ports, for unit tests of handlers (no server needed)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from credreg_shared.storage.ports import (
    APPLIED_EVENTS_FIELD,
    Document,
    EffectOutcome,
    EventId,
    update_with_marker,
)


class InMemoryIdempotentCollection:
    """``IdempotentCollection`` in a dict; supports the common MongoDB update operators."""

    def __init__(self, *, applied_field: str = APPLIED_EVENTS_FIELD) -> None:
        self.documents: dict[str, Document] = {}
        self.applied_field = applied_field

    async def get(self, document_id: str) -> Document | None:
        """A copy of the document with this ``_id``, or None."""
        found = self.documents.get(document_id)
        return copy.deepcopy(found) if found is not None else None

    async def apply_once(
        self,
        document_id: str,
        event_id: EventId,
        update: Mapping[str, Any],
        *,
        upsert: bool = True,
    ) -> EffectOutcome:
        """Apply ``update`` unless the event is recorded in the document already."""
        event = str(event_id)
        marked = update_with_marker(update, event, self.applied_field)
        existing = self.documents.get(document_id)
        if existing is None:
            if not upsert:
                return EffectOutcome.NO_DOCUMENT
            self.documents[document_id] = apply_update({"_id": document_id}, marked, insert=True)
            return EffectOutcome.APPLIED
        if event in existing.get(self.applied_field, ()):
            return EffectOutcome.ALREADY_APPLIED
        self.documents[document_id] = apply_update(existing, marked, insert=False)
        return EffectOutcome.APPLIED

    async def insert_once(self, document: Mapping[str, Any]) -> bool:
        """Store a copy of the document; False when its ``_id`` is taken."""
        if "_id" not in document:
            raise ValueError("insert_once needs an _id derived from the event")
        if document["_id"] in self.documents:
            return False
        self.documents[document["_id"]] = copy.deepcopy(dict(document))
        return True


def apply_update(document: Document, update: Mapping[str, Any], *, insert: bool) -> Document:
    """A new document: ``document`` changed by a MongoDB update (the common operators only)."""
    result = copy.deepcopy(document)
    for operator, fields in update.items():
        if operator not in _OPERATORS:
            raise NotImplementedError(f"the in-memory fake does not support {operator}")
        for path, value in fields.items():
            _OPERATORS[operator](result, path, copy.deepcopy(value), insert)
    return result


def _parent(document: Document, path: str) -> tuple[Document, str]:
    *parents, leaf = path.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
    return node, leaf


def _set(document: Document, path: str, value: Any, insert: bool) -> None:
    node, leaf = _parent(document, path)
    node[leaf] = value


def _set_on_insert(document: Document, path: str, value: Any, insert: bool) -> None:
    if insert:
        _set(document, path, value, insert)


def _unset(document: Document, path: str, value: Any, insert: bool) -> None:
    node, leaf = _parent(document, path)
    node.pop(leaf, None)


def _inc(document: Document, path: str, value: Any, insert: bool) -> None:
    node, leaf = _parent(document, path)
    node[leaf] = node.get(leaf, 0) + value


def _min(document: Document, path: str, value: Any, insert: bool) -> None:
    node, leaf = _parent(document, path)
    node[leaf] = value if leaf not in node else min(node[leaf], value)


def _max(document: Document, path: str, value: Any, insert: bool) -> None:
    node, leaf = _parent(document, path)
    node[leaf] = value if leaf not in node else max(node[leaf], value)


def _each(value: Any) -> list[Any]:
    if isinstance(value, Mapping) and any(key.startswith("$") for key in value):
        if set(value) != {"$each"}:
            raise NotImplementedError("the in-memory fake supports $each only")
        return list(value["$each"])
    return [value]


def _push(document: Document, path: str, value: Any, insert: bool) -> None:
    node, leaf = _parent(document, path)
    node.setdefault(leaf, []).extend(_each(value))


def _add_to_set(document: Document, path: str, value: Any, insert: bool) -> None:
    node, leaf = _parent(document, path)
    items = node.setdefault(leaf, [])
    items.extend(item for item in _each(value) if item not in items)


def _pull(document: Document, path: str, value: Any, insert: bool) -> None:
    if isinstance(value, Mapping):
        raise NotImplementedError("the in-memory fake pulls by equality only")
    node, leaf = _parent(document, path)
    node[leaf] = [item for item in node.get(leaf, []) if item != value]


_OPERATORS = {
    "$set": _set,
    "$setOnInsert": _set_on_insert,
    "$unset": _unset,
    "$inc": _inc,
    "$min": _min,
    "$max": _max,
    "$push": _push,
    "$addToSet": _add_to_set,
    "$pull": _pull,
}
