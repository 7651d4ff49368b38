"""The registry's read port: what the HTTP API asks of the credential view."""

from __future__ import annotations

from typing import Protocol

from credreg_shared.storage import Document


class CredentialReader(Protocol):
    """Reads issued credentials from the view (placeholders awaiting ``issued`` stay hidden)."""

    async def credential(self, credential_id: str) -> Document | None:
        """The view document of one issued credential, or None."""
        ...

    async def holder_credentials(self, holder_id: str) -> list[Document]:
        """The view documents of a holder's issued credentials, oldest first."""
        ...

    async def count_by_status(self) -> dict[str, int]:
        """How many issued credentials have each lifecycle status (every status listed)."""
        ...

    async def count_awaiting_issuance(self) -> int:
        """How many placeholders wait for their credential's ``issued`` event."""
        ...
