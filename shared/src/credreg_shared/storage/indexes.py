"""Declare a service's MongoDB indexes once and ensure them at start-up (idempotent)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase


class IndexMismatchError(RuntimeError):
    """An index exists under the wanted name but with other keys or options."""


@dataclass(frozen=True)
class IndexSpec:
    """One index: collection, ordered keys (field, 1 or -1), unique flag and name."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    name: str
    unique: bool = False

    def model(self) -> IndexModel:
        """The PyMongo model of this index."""
        return IndexModel(list(self.keys), name=self.name, unique=self.unique)


def index(
    collection: str, *keys: str | tuple[str, int], unique: bool = False, name: str | None = None
) -> IndexSpec:
    """An ``IndexSpec``; a bare field name means ascending; the name defaults to PyMongo's."""
    ordered = tuple((key, 1) if isinstance(key, str) else key for key in keys)
    if not ordered:
        raise ValueError("an index needs at least one key")
    default_name = "_".join(f"{field}_{direction}" for field, direction in ordered)
    return IndexSpec(collection, ordered, name or default_name, unique)


async def ensure_indexes(db: AsyncDatabase[Any], specs: Iterable[IndexSpec]) -> None:
    """Create missing indexes and check existing ones match; safe to run at every start-up."""
    by_collection: dict[str, list[IndexSpec]] = defaultdict(list)
    for spec in specs:
        by_collection[spec.collection].append(spec)
    for collection, wanted in by_collection.items():
        present = await db[collection].index_information()
        for spec in wanted:
            if spec.name not in present:
                # One index per command: FerretDB 1.24 drops the connection when a
                # multi-index createIndexes names indexes that all exist already.
                await db[collection].create_indexes([spec.model()])
        # Re-read rather than trust the server: FerretDB accepts a conflicting definition silently.
        present = await db[collection].index_information()
        for spec in wanted:
            _check_matches(spec, present.get(spec.name))


def _check_matches(spec: IndexSpec, found: dict[str, Any] | None) -> None:
    if found is None:
        raise IndexMismatchError(f"index {spec.collection}.{spec.name} was not created")
    keys = _normalised_keys(found.get("key", ()))
    if keys != spec.keys or bool(found.get("unique", False)) != spec.unique:
        raise IndexMismatchError(
            f"index {spec.collection}.{spec.name} exists as keys={keys} "
            f"unique={bool(found.get('unique', False))}, wanted keys={spec.keys} "
            f"unique={spec.unique}; drop it or rename the new one"
        )


def _normalised_keys(keys: Sequence[tuple[str, Any]]) -> tuple[tuple[str, int], ...]:
    return tuple((field, int(direction)) for field, direction in keys)
