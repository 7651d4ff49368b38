"""Where webhooks may go: absolute https URLs whose host resolves only to public addresses.

Checked when a wallet subscribes and again before every attempt, since a name can be pointed
at an internal address after the subscription was accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """A webhook URL the notifier will not call."""


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise `TargetRefused` unless `url` is https to public addresses (or private is allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("url must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url must not carry credentials")
    if allow_private:
        return
    if parts.scheme != "https":
        raise TargetRefused("url must use https")
    for address in await resolve(parts.hostname):
        if not is_public(address):
            raise TargetRefused(f"url resolves to a non-public address ({address})")


def is_public(address: str) -> bool:
    """True for globally routable addresses (not private, loopback, link-local, reserved...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str) -> list[str]:
    """Every address `host` resolves to, without blocking the event loop."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise TargetRefused(f"url host {host!r} does not resolve") from error
    return sorted({str(info[4][0]) for info in infos})
