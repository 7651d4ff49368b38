"""Webhooks over the network: the target check (DNS) and signed POSTs per Standard Webhooks.

A target's host is resolved once per check, every address it resolves to must be public
(`domain.refuse_private_addresses`), and the POST then connects to one of those very addresses.
Nothing on the way resolves the name again, so a name re-pointed between the check and the
connection (DNS rebinding) reaches nothing but what was checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from credreg_notifier.domain import TargetRefused, refuse_private_addresses, webhook_host

log = logging.getLogger(__name__)

Resolver = Callable[[str], Awaitable[list[str]]]
"""Every address of a host name, in the order to try them; `TargetRefused` when it has none."""

# A name with an unreachable address family (an AAAA record on a host without IPv6) still gets
# its notice through the next address; two keep one attempt well inside its lease.
MAX_ADDRESSES_PER_ATTEMPT = 2
ANSWER_READ_LIMIT = 64 * 1024
"""Bytes of a wallet's answer read (to keep its connection); a longer one is closed unread."""


async def resolve(host: str) -> list[str]:
    """Every address `host` resolves to, in the system's order of preference, without blocking."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"url host {host!r} does not resolve") from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook URL and the addresses its host had when checked (all allowed)."""

    url: str
    addresses: tuple[str, ...]


class DnsWebhookTargets:
    """``WebhookTargets``: the URL rules, then every address its host resolves to now."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = resolve) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        if allow_private:
            # Made once, at start-up: an operator must see that the SSRF guard is off.
            log.warning(
                "CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS is on: webhooks may use plain http and "
                "reach loopback and private addresses (tests and demos only, never production)"
            )

    async def check(self, url: str) -> None:
        """Raise `TargetRefused` unless `url` is https to public addresses (or private allowed)."""
        await self.target(url)

    async def target(self, url: str) -> WebhookTarget:
        """`url` with its host resolved once and every address allowed; else `TargetRefused`."""
        host = webhook_host(url, allow_private=self.allow_private)
        addresses = await self._addresses(host)
        if not addresses:
            raise TargetRefused(f"url host {host!r} does not resolve")
        if not self.allow_private:
            refuse_private_addresses(addresses)
        return WebhookTarget(url, tuple(addresses))

    async def _addresses(self, host: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]  # an IP literal stands for itself
        except ValueError:
            return await self.resolver(host)


class HttpxWebhookSender:
    """``WebhookSender``: checks the target again, signs, POSTs to a checked address, reports."""

    def __init__(
        self, client: httpx.AsyncClient, *, targets: DnsWebhookTargets, timeout_seconds: float
    ) -> None:
        self.client = client
        self.targets = targets
        self.timeout_seconds = timeout_seconds

    async def send(
        self, *, url: str, secret: str, message_id: str, body: str, also: Sequence[str] = ()
    ) -> str | None:
        """POST the signed `body`; None on a 2xx answer, else what went wrong."""
        try:
            target = await self.targets.target(url)
        except TargetRefused as refused:
            return f"target refused: {refused}"
        headers = signed_headers(secret, message_id, body, datetime.now(UTC), also=also)
        error = "no address"
        for address in target.addresses[:MAX_ADDRESSES_PER_ATTEMPT]:
            try:
                request = self._pinned_request(target.url, address, body.encode(), headers)
            except httpx.InvalidURL as invalid:
                return f"target refused: {invalid}"
            try:
                # Streamed: a wallet's answer body is not ours to buffer. A 3xx is an answer like
                # any other: its Location is never fetched.
                response = await self.client.send(request, stream=True, follow_redirects=False)
            except (httpx.ConnectError, httpx.ConnectTimeout) as failed:
                # Nothing was sent over a connection that never opened: the next address may.
                error = describe(failed)
                continue
            except httpx.HTTPError as failed:
                return describe(failed)
            await self._finish(response)
            return outcome(response)
        return error

    async def _finish(self, response: httpx.Response) -> None:
        """Close the answer; a short one read to its end first, within the attempt's time,
        so that its (kept-alive) connection can carry the next notice: one closed unread is
        never reused."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                read = 0
                async for chunk in _unread(response):
                    read += len(chunk)
                    if read > ANSWER_READ_LIMIT:
                        break
        except (TimeoutError, httpx.HTTPError):
            pass  # the status decides the attempt; this connection is just not reused
        finally:
            await response.aclose()

    def _pinned_request(
        self, url: str, address: str, content: bytes, headers: dict[str, str]
    ) -> httpx.Request:
        """A POST of `url` whose connection goes to `address` yet names the URL's own host.

        The URL handed to httpx carries the checked IP, so httpcore connects to it without a
        lookup. The wallet still sees its name: in the Host header and, over https, in TLS SNI
        through the documented ``sni_hostname`` request extension, which httpcore also gives
        the TLS handshake as ``server_hostname``, so the certificate is verified against the
        name, not the IP. This uses httpx's public API only (no private transport or network
        backend to keep in step with httpcore). Over https, ``Connection: close``: the pool
        keys connections by scheme, IP and port, and a kept-alive connection verified for one
        name must not carry a request for another name served from the same IP. Plain http
        verifies no name, so its connections to a checked IP are kept alive (a connection per
        notice cost a connect and an accept each). (httpcore's HTTP
        proxy tunnel ignores ``sni_hostname``: through a proxy from the environment an https
        attempt would verify the IP and fail, never reach another host.)
        """
        named = httpx.URL(url)
        host = named.raw_host.decode("ascii")
        tls = named.scheme == "https"
        extensions = {"sni_hostname": host} if tls else {}
        pinned = {**headers, "host": named.netloc.decode("ascii")}
        return self.client.build_request(
            "POST",
            named.copy_with(host=address),
            content=content,
            headers={**pinned, "connection": "close"} if tls else pinned,
            timeout=self.timeout_seconds,
            extensions=extensions,
        )


async def _unread(response: httpx.Response) -> AsyncIterator[bytes]:
    """The answer's bytes not read yet (none when it came whole)."""
    if not response.is_stream_consumed:
        async for chunk in response.aiter_raw():
            yield chunk


def outcome(response: httpx.Response) -> str | None:
    """None for a 2xx answer, else the status (a redirect is a failed attempt, retried)."""
    if response.is_success:
        return None
    if 300 <= response.status_code < 400:
        return f"HTTP {response.status_code} (redirects are not followed)"
    return f"HTTP {response.status_code}"


def describe(error: httpx.HTTPError) -> str:
    """An attempt's transport error as the delivery records it."""
    return f"{type(error).__name__}: {error}"


def signed_headers(
    secret: str, message_id: str, body: str, sent_at: datetime, *, also: Sequence[str] = ()
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (a fresh timestamp, the same id)."""
    return {
        "content-type": "application/json",
        "user-agent": "credreg-notifier",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        # One signature per secret, space-separated (Standard Webhooks): a wallet that rotated
        # its secret verifies with either during the overlap.
        "webhook-signature": " ".join(
            Webhook(key).sign(message_id, sent_at, body) for key in (secret, *also)
        ),
    }
