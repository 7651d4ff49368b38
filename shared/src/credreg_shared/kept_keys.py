"""The MongoDB adapter of `InstitutionKeys` (`credreg_shared.api_keys`): API keys an institution
got from the issuer, as other services learn them from the log, one document per key digest."""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from credreg_shared.api_keys import KeptApiKey
from credreg_shared.storage import Document, storage_adapter

API_KEYS = "api_keys"


@storage_adapter
class MongoInstitutionKeys:
    """`InstitutionKeys` over ``api_keys`` (``_id`` = the key's SHA-256: one lookup per call)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[API_KEYS]

    async def issued(self, digest: str, key: KeptApiKey) -> None:
        """Remember a key (unless it is revoked already)."""
        await self.collection.update_one(
            {"_id": digest},
            {
                "$set": {"institution": key.institution, "scopes": sorted(key.scopes)},
                "$setOnInsert": {"revoked": False},
            },
            upsert=True,
        )

    async def revoked(self, digest: str, institution: str) -> None:
        """Mark a key revoked, for good."""
        await self.collection.update_one(
            {"_id": digest},
            {"$set": {"revoked": True}, "$setOnInsert": {"institution": institution, "scopes": []}},
            upsert=True,
        )

    async def find(self, digest: str) -> KeptApiKey | None:
        """A key by its digest."""
        found = await self.collection.find_one({"_id": digest})
        if found is None:
            return None
        return KeptApiKey(
            institution=str(found["institution"]),
            scopes=frozenset(found.get("scopes", [])),
            revoked=bool(found.get("revoked")),
        )
