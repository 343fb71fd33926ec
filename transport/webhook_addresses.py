"""Which webhook URLs avtomat may call: http(s) only, and public addresses only unless
``WEBHOOK_ALLOW_PRIVATE`` (the default in development).

An address is refused when it is not globally routable (loopback, private, link-local, shared,
reserved, unspecified...) or is multicast; an IPv6 address that embeds an IPv4 one
(IPv4-mapped, 6to4, NAT64) is judged by that IPv4 address too. A host name is refused when *any*
of its addresses is.

The check runs twice: when a job is created (``check_url``, so the client hears of it at once),
and on every delivery attempt (``GuardedResolver``, the resolver the sender connects through),
so a name that later resolves elsewhere (DNS rebinding) is refused then too: the addresses
checked are the very ones connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT_SECONDS = 5.0

Resolve = Callable[[str, int], Awaitable[list[str]]]


class RefusedAddress(OSError):
    """A webhook host resolves to an address that may not be called."""


def refusal(address: str) -> str | None:
    """Why ``address`` (an IP literal) may not be called, or None if it may."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IP address"
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            candidates.append(ip.sixtofour)
        if ip in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for candidate in candidates:
        if not candidate.is_global or candidate.is_multicast:
            return f"{address} is a private, loopback or otherwise non-public address"
    return None


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, as connections use it)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check_url(url: str, *, allow_private: bool, resolve: Resolve = resolve_host) -> None:
    """Raise ``ValueError`` saying why ``url`` may not be a webhook URL: not http(s) with a host,
    or (unless ``allow_private``) a host that does not resolve, or resolves to any refused address.
    ``TimeoutError`` if the host's name does not resolve within ``RESOLVE_TIMEOUT_SECONDS``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError("has an invalid port") from None
    host = parts.hostname
    if is_ip(host):
        addresses = [host]
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                addresses = await resolve(host, port)
        except socket.gaierror as exc:
            raise ValueError(f"host {host!r} does not resolve ({exc.strerror})") from None
    for address in addresses:
        if reason := refusal(address):
            raise ValueError(f"resolves to a refused address: {reason} (set WEBHOOK_ALLOW_PRIVATE=true to allow it)")


def is_ip(host: str) -> bool:
    """``host`` is an IP address literal (aiohttp connects to those without asking the resolver)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class GuardedResolver(AbstractResolver):
    """aiohttp's default resolver, refusing (``RefusedAddress``) a host with any refused address."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            if reason := refusal(result["host"]):
                raise RefusedAddress(f"webhook host {host!r} refused: {reason}")
        return found

    async def close(self) -> None:
        await self._inner.close()
