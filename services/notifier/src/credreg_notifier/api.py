"""The notifier's HTTP routes: subscriptions and their deliveries (thin; logic in `service`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from credreg_notifier.service import Subscriptions
from credreg_notifier.subscriptions import SubscriptionRequest

router = APIRouter(prefix="/v1", tags=["subscriptions"])


def subscriptions_of(request: Request) -> Subscriptions:
    """The use cases the composition root attached to the app."""
    found: Subscriptions = request.app.state.subscriptions
    return found


Service = Annotated[Subscriptions, Depends(subscriptions_of)]


@router.post("/subscriptions", status_code=201, summary="Subscribe a wallet webhook")
async def subscribe(body: SubscriptionRequest, service: Service) -> dict[str, Any]:
    """Store the subscription; the answer carries its signing secret (shown this once)."""
    return await service.subscribe(body)


@router.get("/subscriptions/{subscription_id}", summary="A subscription (without its secret)")
async def get_subscription(subscription_id: str, service: Service) -> dict[str, Any]:
    """The subscription."""
    return await service.get(subscription_id)


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Unsubscribe")
async def unsubscribe(subscription_id: str, service: Service) -> Response:
    """Remove the subscription."""
    await service.unsubscribe(subscription_id)
    return Response(status_code=204)


@router.get("/subscriptions/{subscription_id}/deliveries", summary="Deliveries and dead letters")
async def list_deliveries(subscription_id: str, service: Service) -> dict[str, Any]:
    """Every notice for this subscription with its status, attempts and last error."""
    return await service.deliveries_of(subscription_id)
