"""The notifier's HTTP routes: subscriptions and their deliveries (the work is in use_cases)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from credreg_notifier.domain import (
    InvalidSecret,
    SubscriptionNotFound,
    SubscriptionRequest,
    TargetRefused,
)
from credreg_notifier.use_cases import Subscriptions
from credreg_shared.web import problem_responses, use_case

TITLE = "credreg notifier"
DESCRIPTION = "Wallets subscribe; revocation and expiry notices arrive as signed webhooks."
router = APIRouter(prefix="/v1", tags=["subscriptions"])

ERROR_STATUSES: dict[type[Exception], int] = {
    SubscriptionNotFound: 404,
    TargetRefused: 422,
    InvalidSecret: 422,
}

UseCase = Annotated[Subscriptions, Depends(use_case(Subscriptions))]
UNAVAILABLE = "The database did not answer; nothing changed, retry later"
NOT_FOUND = "No such subscription (never created, or removed)"


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe a wallet webhook",
    responses=problem_responses(
        {
            422: "Invalid body, a URL the notifier will not call, or a bad secret",
            503: UNAVAILABLE,
        }
    ),
)
async def subscribe(body: SubscriptionRequest, subscriptions: UseCase) -> dict[str, Any]:
    """Store the subscription; the answer carries its signing secret (shown this once)."""
    return await subscriptions.subscribe(body)


@router.get(
    "/subscriptions/{subscription_id}",
    summary="A subscription (without its secret)",
    responses=problem_responses({404: NOT_FOUND, 503: UNAVAILABLE}),
)
async def get_subscription(subscription_id: str, subscriptions: UseCase) -> dict[str, Any]:
    """The subscription."""
    return await subscriptions.get(subscription_id)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    summary="Unsubscribe",
    responses=problem_responses({404: NOT_FOUND, 503: UNAVAILABLE}),
)
async def unsubscribe(subscription_id: str, subscriptions: UseCase) -> Response:
    """Remove the subscription."""
    await subscriptions.unsubscribe(subscription_id)
    return Response(status_code=204)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    summary="Deliveries and dead letters",
    responses=problem_responses({404: NOT_FOUND, 503: UNAVAILABLE}),
)
async def list_deliveries(subscription_id: str, subscriptions: UseCase) -> dict[str, Any]:
    """Every notice for this subscription with its status, attempts and last error."""
    return await subscriptions.deliveries_of(subscription_id)
