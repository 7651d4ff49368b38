"""Signed webhook POSTs per the Standard Webhooks scheme, over httpx."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from credreg_notifier.targets import TargetRefused, check_target


class HttpxWebhookSender:
    """``WebhookSender``: checks the target again, signs, POSTs, and reports the outcome."""

    def __init__(
        self, client: httpx.AsyncClient, *, timeout_seconds: float, allow_private: bool
    ) -> None:
        self.client = client
        self.timeout_seconds = timeout_seconds
        self.allow_private = allow_private

    async def send(self, *, url: str, secret: str, message_id: str, body: str) -> str | None:
        """POST the signed `body`; None on a 2xx answer, else what went wrong."""
        try:
            await check_target(url, allow_private=self.allow_private)
        except TargetRefused as refused:
            return f"target refused: {refused}"
        request = self.client.build_request(
            "POST",
            url,
            content=body.encode(),
            headers=signed_headers(secret, message_id, body, datetime.now(UTC)),
            timeout=self.timeout_seconds,
        )
        try:
            # Streamed and never read: a wallet's answer body is not ours to buffer.
            response = await self.client.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        await response.aclose()
        return None if response.is_success else f"HTTP {response.status_code}"


def signed_headers(secret: str, message_id: str, body: str, sent_at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (a fresh timestamp, the same id)."""
    return {
        "content-type": "application/json",
        "user-agent": "credreg-notifier",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, sent_at, body),
    }
