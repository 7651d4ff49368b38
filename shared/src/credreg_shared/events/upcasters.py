"""Upcasters: turn the `data` of an old event type version into the current one before parsing.

Register ``OLD_TYPE: (NEWER_TYPE, function)``; chains are followed until a current type is
reached, so a ``.v1`` record read after ``.v3`` exists is upcast v1 → v2 → v3. None exist yet.
"""

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: Mapping[str, tuple[str, Upcaster]] = MappingProxyType({})
"""Old event type → (the next type version, the function that converts its data)."""


def _chain(
    event_type: str, upcasters: Mapping[str, tuple[str, Upcaster]]
) -> list[tuple[str, Upcaster]]:
    """The steps (next type, converter) from `event_type` to a current type; ValueError on loops."""
    steps: list[tuple[str, Upcaster]] = []
    seen = {event_type}
    while event_type in upcasters:
        event_type, convert = upcasters[event_type]
        if event_type in seen:
            raise ValueError(f"upcaster chain loops back to {event_type}")
        seen.add(event_type)
        steps.append((event_type, convert))
    return steps


def current_type(
    event_type: str, upcasters: Mapping[str, tuple[str, Upcaster]] = UPCASTERS
) -> str | None:
    """The type `event_type` upcasts to (itself when current), without data; None on a loop."""
    try:
        steps = _chain(event_type, upcasters)
    except ValueError:
        return None
    return steps[-1][0] if steps else event_type


def upcast(
    event_type: str,
    data: dict[str, Any],
    upcasters: Mapping[str, tuple[str, Upcaster]] = UPCASTERS,
) -> tuple[str, dict[str, Any]]:
    """Follow the upcaster chain from `event_type`; return the current type and converted data."""
    current = event_type
    for current, convert in _chain(event_type, upcasters):  # noqa: B007 - the last is returned
        data = convert(data)
    return current, data
