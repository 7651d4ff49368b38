"""The notifier's HTTP routes: subscriptions and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from credreg_notifier.deliveries import deliveries_of
from credreg_notifier.settings import NotifierSettings
from credreg_notifier.subscriptions import (
    SubscriptionRequest,
    SubscriptionStore,
    check_secret,
    check_target,
    new_secret,
    public,
)
from credreg_shared.web import ProblemError

router = APIRouter(prefix="/v1")


def store(request: Request) -> SubscriptionStore:
    """The subscription store the lifespan attached to the app."""
    found: SubscriptionStore = request.app.state.subscriptions
    return found


Store = Annotated[SubscriptionStore, Depends(store)]


async def existing(subscription_id: str, subscriptions: Store) -> dict[str, Any]:
    """A subscription or a 404 problem."""
    found = await subscriptions.get(subscription_id)
    if found is None:
        raise ProblemError(404, detail=f"no subscription {subscription_id!r}")
    return found


@router.post("/subscriptions", status_code=201, summary="Subscribe a wallet webhook")
async def subscribe(body: SubscriptionRequest, request: Request, subscriptions: Store) -> Any:
    """Store the subscription; the answer carries its signing secret (shown this once)."""
    settings: NotifierSettings = request.app.state.settings
    check_target(body.url, allow_private=settings.allow_private_webhook_targets)
    secret = body.secret or new_secret()
    check_secret(secret)
    created = await subscriptions.create(body, secret)
    return {**public(created), "secret": secret}


@router.get("/subscriptions/{subscription_id}", summary="A subscription (without its secret)")
async def get_subscription(found: Annotated[dict[str, Any], Depends(existing)]) -> Any:
    """The subscription."""
    return public(found)


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Unsubscribe")
async def unsubscribe(
    found: Annotated[dict[str, Any], Depends(existing)], subscriptions: Store
) -> Response:
    """Remove the subscription; its pending deliveries become dead letters."""
    await subscriptions.delete(found["_id"])
    return Response(status_code=204)


@router.get("/subscriptions/{subscription_id}/deliveries", summary="Deliveries and dead letters")
async def list_deliveries(
    found: Annotated[dict[str, Any], Depends(existing)], request: Request
) -> Any:
    """Every notice for this subscription with its status, attempts and last error."""
    return {
        "subscription_id": found["_id"],
        "deliveries": await deliveries_of(request.app.state.db, found["_id"]),
    }
