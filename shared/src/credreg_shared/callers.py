"""Who calls a service on a holder's data: a holder (holder token), an institution (API key),
or nobody. No web framework here: the dependencies that find the caller are in `caller_auth`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    """Who asks: a holder (by token), an institution (by key), or nobody."""

    holder_id: str | None = None
    institution: str | None = None

    @property
    def anonymous(self) -> bool:
        """Neither a holder nor an institution."""
        return self.holder_id is None and self.institution is None

    @property
    def owner(self) -> str:
        """The owner key of what this caller creates (``holder:…`` or ``institution:…``)."""
        if self.holder_id is not None:
            return f"holder:{self.holder_id}"
        if self.institution is not None:
            return f"institution:{self.institution}"
        raise ValueError("an anonymous caller owns nothing")

    def owns(self, document: Mapping[str, Any]) -> bool:
        """Whether a credential is the caller's: its holder's, or its issuer's."""
        return (self.holder_id is not None and document.get("holder_id") == self.holder_id) or (
            self.institution is not None and document.get("issuer_id") == self.institution
        )
