"""pytest -p broken_service: a service deliberately broken on an authorised path only (reached
only by the owner of an existing resource), chosen by CREDREG_BREAK; nothing in the tree edited."""

import os

from fastapi import HTTPException

from credreg_notifier.use_cases import Subscriptions
from credreg_registry.use_cases import RegistryQueries

BREAK = os.environ["CREDREG_BREAK"]

if BREAK == "deliveries-500":  # the owner's deliveries listing crashes (a 500)
    original = Subscriptions.deliveries_of

    async def deliveries_of(self, subscription_id, caller):
        await original(self, subscription_id, caller)  # ownership checked: 401/404 unchanged
        raise RuntimeError("broken on purpose")

    Subscriptions.deliveries_of = deliveries_of
elif BREAK == "vouch-418":  # a holder token for a holder the institution issued to: 418
    original_vouch = RegistryQueries.vouch

    async def vouch(self, holder_id, institution):
        await original_vouch(self, holder_id, institution)
        raise HTTPException(status_code=418, detail="broken on purpose")

    RegistryQueries.vouch = vouch
else:
    raise SystemExit(f"unknown CREDREG_BREAK {BREAK!r}")
