"""Random status-list index allocation that never hands out the same index twice."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from .bitstring import MIN_STATUS_LIST_LENGTH


class StatusListFullError(RuntimeError):
    """Raised when every index of a status list has been allocated."""


class RandomIndexAllocator:
    """Draws indices uniformly at random without replacement from `0..length-1`.

    Random positions keep a credential's index from revealing its issuance order.
    Start it with the indices already in use (e.g. loaded from storage) to resume.
    """

    def __init__(self, length: int = MIN_STATUS_LIST_LENGTH, used: Iterable[int] = ()) -> None:
        if length <= 0:
            raise ValueError("length must be positive")
        self.length = length
        self._used: set[int] = set()
        for index in used:
            if not 0 <= index < length:
                raise ValueError(f"used index {index} outside 0..{length - 1}")
            self._used.add(index)
        self._free: list[int] | None = None

    @property
    def allocated(self) -> int:
        """How many indices are taken."""
        return len(self._used)

    def allocate(self) -> int:
        """Return a fresh random index."""
        if len(self._used) >= self.length:
            raise StatusListFullError(f"all {self.length} indices are allocated")
        if self._free is None and len(self._used) < self.length // 2:
            # Mostly empty: rejection sampling needs fewer than two draws on average.
            while True:
                index = secrets.randbelow(self.length)
                if index not in self._used:
                    break
        else:
            # Mostly full: draw from the explicit free list instead of retrying.
            if self._free is None:
                self._free = [i for i in range(self.length) if i not in self._used]
            position = secrets.randbelow(len(self._free))
            self._free[position], self._free[-1] = self._free[-1], self._free[position]
            index = self._free.pop()
        self._used.add(index)
        return index
