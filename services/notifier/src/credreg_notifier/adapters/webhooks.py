"""Webhooks over the network: the target check (DNS) and signed POSTs per Standard Webhooks."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from credreg_notifier.domain import TargetRefused, refuse_private_addresses, webhook_host
from credreg_notifier.ports import WebhookTargets
from credreg_shared.addresses import HostUnresolvable
from credreg_shared.addresses import resolve as resolve_host


class DnsWebhookTargets:
    """``WebhookTargets``: the URL rules, then every address its host resolves to now."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def check(self, url: str) -> None:
        """Raise `TargetRefused` unless `url` is https to public addresses (or private allowed)."""
        host = webhook_host(url, allow_private=self.allow_private)
        if not self.allow_private:
            refuse_private_addresses(await resolve(host))


async def resolve(host: str) -> list[str]:
    """Every address `host` resolves to, without blocking the event loop."""
    try:
        return await resolve_host(host)
    except HostUnresolvable as error:
        raise TargetRefused(f"url host {host!r} does not resolve") from error


class HttpxWebhookSender:
    """``WebhookSender``: checks the target again, signs, POSTs, and reports the outcome."""

    def __init__(
        self, client: httpx.AsyncClient, *, targets: WebhookTargets, timeout_seconds: float
    ) -> None:
        self.client = client
        self.targets = targets
        self.timeout_seconds = timeout_seconds

    async def send(self, *, url: str, secret: str, message_id: str, body: str) -> str | None:
        """POST the signed `body`; None on a 2xx answer, else what went wrong."""
        try:
            await self.targets.check(url)
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
