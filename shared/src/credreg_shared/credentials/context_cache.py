"""Reuse pyld's processed JSON-LD contexts across documents (the RDFC signing hot path).

pyld caches processed contexts per *active context id*, but every type-scoped context that
does not propagate (Open Badges defines many) is applied to a fresh clone with a fresh id, so
the same contexts were processed again for every node of every credential: ~70 % of an
``eddsa-rdfc-2022`` signature. This memo keys a processed context by the id of the active
context it was applied to, the local context object itself and the processing flags. It only
remembers local contexts it holds a reference to (the frozen documents of our offline loader and
their nested type-scoped contexts), so an id can never be reused by another object.
Tests compare every canonical form with and without the memo, byte for byte.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from frozendict import frozendict
from pyld import jsonld

_original = jsonld.JsonLdProcessor._process_context
_memo: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_MAX_ENTRIES = 4096
_state = threading.local()


def _memoised_process_context(
    self: jsonld.JsonLdProcessor,
    active_ctx: Any,
    local_ctx: Any,
    options: dict[str, Any],
    override_protected: bool = False,
    propagate: bool = True,
    validate_scoped: bool = True,
    cycles: Any = None,
) -> Any:
    cacheable = (
        not getattr(_state, "disabled", False)
        and isinstance(local_ctx, (frozendict, str))
        and "_uuid" in active_ctx
        and cycles is None
    )
    if not cacheable:
        return _original(
            self,
            active_ctx,
            local_ctx,
            options,
            override_protected,
            propagate,
            validate_scoped,
            cycles,
        )
    key = (
        active_ctx["_uuid"],
        id(local_ctx) if isinstance(local_ctx, frozendict) else local_ctx,
        override_protected,
        propagate,
        validate_scoped,
        options.get("base", ""),
        options.get("processingMode"),
    )
    found = _memo.get(key)
    if found is not None and (found[0] is local_ctx or isinstance(local_ctx, str)):
        return found[1]
    processed = _original(
        self, active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles
    )
    if len(_memo) >= _MAX_ENTRIES:
        _memo.clear()
    # Keep `local_ctx` alive with the entry, so its id cannot be taken by another object.
    _memo[key] = (local_ctx, processed)
    return processed


def install() -> None:
    """Make pyld reuse processed contexts (idempotent)."""
    jsonld.JsonLdProcessor._process_context = _memoised_process_context


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Process every context afresh in this thread (the reference path for tests)."""
    _state.disabled = True
    try:
        yield
    finally:
        _state.disabled = False
