"""The notifier's HTTP routes: subscriptions and their deliveries, holders' live streams (the
work is in use_cases)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from credreg_notifier.domain import (
    HolderEvent,
    InvalidSecret,
    NotYourStream,
    NotYourSubscription,
    SubscribingTooFast,
    SubscriptionNotFound,
    SubscriptionRequest,
    TargetRefused,
    TooManySubscriptions,
)
from credreg_notifier.use_cases import HolderStreams, Subscriptions
from credreg_shared.caller_auth import HOLDER_TOKEN, KnownCaller, known_caller
from credreg_shared.callers import Caller
from credreg_shared.web import problem_responses, use_case
from credreg_shared.web.security import secured

TITLE = "credreg notifier"
DESCRIPTION = (
    "Wallets subscribe; revocation and expiry notices arrive as signed webhooks, or live to a "
    "holder's own event stream (Server-Sent Events)."
)
router = APIRouter(prefix="/v1", tags=["subscriptions"])

ERROR_STATUSES: dict[type[Exception], int] = {
    SubscriptionNotFound: 404,
    TargetRefused: 422,
    InvalidSecret: 422,
    NotYourSubscription: 403,
    NotYourStream: 403,
    TooManySubscriptions: 409,
    SubscribingTooFast: 429,
}

UseCase = Annotated[Subscriptions, Depends(use_case(Subscriptions))]
Streams = Annotated[HolderStreams, Depends(use_case(HolderStreams))]
# Documented as holder tokens only; an institution key is still recognised, to answer 403.
HolderCaller = Annotated[Caller, Depends(secured(known_caller, HOLDER_TOKEN))]
LastEventId = Annotated[
    int | None,
    Header(
        alias="Last-Event-ID",
        ge=0,
        description="The `id` of the last event received: the stream resumes after it",
    ),
]
UNAVAILABLE = "The database did not answer; nothing changed, retry later"
NOT_FOUND = "No such subscription of the caller's (never created, removed, or another's)"
UNAUTHENTICATED = "No holder token or institution key, or one that does not hold"


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe a wallet webhook",
    responses=problem_responses(
        {
            401: UNAUTHENTICATED,
            403: "Another holder's id, or another institution's issuer id",
            409: "The caller keeps as many subscriptions as it may",
            422: "Invalid body, a URL the notifier will not call, or a bad secret",
            429: "The caller created as many subscriptions this minute as it may",
            503: UNAVAILABLE,
        }
    ),
)
async def subscribe(
    body: SubscriptionRequest, subscriptions: UseCase, caller: KnownCaller
) -> dict[str, Any]:
    """Store the subscription, owned by the caller: a holder (holder token) to its own notices
    or a credential's, an institution (API key) to its credentials' (`issuer_id`), a holder's or
    a credential's; each hears only of its own credentials. The answer carries the signing
    secret (shown this once)."""
    return await subscriptions.subscribe(body, caller)


@router.get(
    "/subscriptions",
    summary="The caller's subscriptions (without their secrets)",
    responses=problem_responses({401: UNAUTHENTICATED, 503: UNAVAILABLE}),
)
async def list_subscriptions(subscriptions: UseCase, caller: KnownCaller) -> dict[str, Any]:
    """The caller's own subscriptions, oldest first."""
    return await subscriptions.list(caller)


@router.get(
    "/subscriptions/{subscription_id}",
    summary="A subscription (without its secret)",
    responses=problem_responses({401: UNAUTHENTICATED, 404: NOT_FOUND, 503: UNAVAILABLE}),
)
async def get_subscription(
    subscription_id: str, subscriptions: UseCase, caller: KnownCaller
) -> dict[str, Any]:
    """The caller's subscription."""
    return await subscriptions.get(subscription_id, caller)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    summary="Unsubscribe",
    responses=problem_responses({401: UNAUTHENTICATED, 404: NOT_FOUND, 503: UNAVAILABLE}),
)
async def unsubscribe(
    subscription_id: str, subscriptions: UseCase, caller: KnownCaller
) -> Response:
    """Remove the caller's subscription."""
    await subscriptions.unsubscribe(subscription_id, caller)
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/secret",
    summary="Rotate the subscription's signing secret",
    responses=problem_responses({401: UNAUTHENTICATED, 404: NOT_FOUND, 503: UNAVAILABLE}),
)
async def rotate_secret(
    subscription_id: str, subscriptions: UseCase, caller: KnownCaller
) -> dict[str, Any]:
    """A new `whsec_` secret, shown this once. Until `previous_valid_until` (the overlap,
    `CREDREG_SECRET_OVERLAP_HOURS`) every notice carries a signature by each secret, so the
    wallet switches without losing one."""
    return await subscriptions.rotate_secret(subscription_id, caller)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    summary="Deliveries and dead letters",
    responses=problem_responses({401: UNAUTHENTICATED, 404: NOT_FOUND, 503: UNAVAILABLE}),
)
async def list_deliveries(
    subscription_id: str, subscriptions: UseCase, caller: KnownCaller
) -> dict[str, Any]:
    """Every notice for the caller's subscription with its status, attempts and last error."""
    return await subscriptions.deliveries_of(subscription_id, caller)


STREAM_OK = {
    "description": "An endless `text/event-stream`: each event's `id` is its number in the "
    "holder's stream, `event` its CloudEvents type, `data` the webhook notice body; a `: ping` "
    "comment every `CREDREG_STREAM_HEARTBEAT_SECONDS`",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


@router.get(
    "/holders/{holder_id}/events",
    tags=["streams"],
    summary="The holder's live stream of lifecycle events (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses={
        200: STREAM_OK,
        **problem_responses(
            {
                401: UNAUTHENTICATED,
                403: "Not this holder's own token (another holder's, or an institution key)",
                422: "A Last-Event-ID that is not a number of this stream",
            }
        ),
    },
)
async def holder_events(
    holder_id: str, streams: Streams, caller: HolderCaller, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """The holder's revoked, suspended, reinstated, expired and expiring notices: those after
    `Last-Event-ID` first (all of them without it), then each as it happens. Reconnecting
    with the last `id` received loses none and repeats none. Holder token only."""
    events = streams.open(holder_id, caller, after=last_event_id or 0)
    return EventSourceResponse(
        _sent(events),
        ping=streams.timing.heartbeat_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping", sep="\n"),
        sep="\n",
        headers={"Cache-Control": "no-store"},
    )


async def _sent(events: AsyncGenerator[HolderEvent]) -> AsyncGenerator[ServerSentEvent]:
    """Each event as SSE; closing this closes the stream's reader (and its wake-up) too."""
    async with contextlib.aclosing(events) as stream:
        async for event in stream:
            yield ServerSentEvent(data=event.body, event=event.type, id=str(event.seq), sep="\n")
