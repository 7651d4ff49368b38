"""What the registry's routes ask: one credential, a holder's portfolio, the view's counts."""

from __future__ import annotations

from credreg_registry.domain import CredentialNotFound, CredentialView, Portfolio, Stats
from credreg_registry.ports import CredentialReader


class RegistryQueries:
    """Read-only questions answered from the credential view."""

    def __init__(self, *, reader: CredentialReader) -> None:
        self.reader = reader

    async def credential(self, credential_id: str) -> CredentialView:
        """One issued credential; `CredentialNotFound` for an unknown id or a placeholder."""
        found = await self.reader.credential(credential_id)
        if found is None:
            raise CredentialNotFound(credential_id)
        return found

    async def portfolio(self, holder_id: str) -> Portfolio:
        """Every issued credential of one holder, oldest first (empty for an unknown holder)."""
        credentials = await self.reader.holder_credentials(holder_id)
        return Portfolio(holder_id=holder_id, credentials=credentials)

    async def stats(self) -> Stats:
        """Counts of issued credentials, in all and by status, and of placeholders."""
        by_status = await self.reader.count_by_status()
        return Stats(
            credentials=sum(by_status.values()),
            by_status=by_status,
            awaiting_issuance=await self.reader.count_awaiting_issuance(),
        )
