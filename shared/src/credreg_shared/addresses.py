"""Where outbound requests may go: public addresses only (webhooks, DID and status-list fetches).

A name is checked when it is accepted and again before every request, since it can be pointed
at an internal address afterwards.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket


class HostUnresolvable(LookupError):
    """A host name that resolves to no address."""


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
        raise HostUnresolvable(f"host {host!r} does not resolve") from error
    return sorted({str(info[4][0]) for info in infos})
