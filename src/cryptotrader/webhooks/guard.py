"""SSRF guard: a webhook URL is a user-chosen target, so it must not reach our own network."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from cryptotrader.webhooks.errors import UnsafeWebhookUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _refusal(addr: IPAddress, allow_private: bool, allow_loopback: bool) -> str | None:
    """Why ``addr`` must not be called, or None when it may be."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return None if allow_loopback or allow_private else "a loopback address"
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_link_local:
        return "a link-local address"
    private = addr.is_private or (isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT)
    if private:
        return None if allow_private else "a private address"
    if addr.is_reserved or not addr.is_global:
        return "a reserved address"
    return None


async def check_url(
    url: str, *, allow_private: bool = False, allow_loopback: bool = False
) -> list[IPAddress]:
    """The addresses ``url``'s host resolves to, all of them safe; else UnsafeWebhookUrl."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # an unclosed IPv6 bracket, ...
        raise UnsafeWebhookUrl(f"{url}: not a URL") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookUrl(f"{url}: only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl(f"{url}: credentials in the URL are not allowed")
    if not host:
        raise UnsafeWebhookUrl(f"{url}: no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"{url}: invalid port") from exc
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:  # ValueError: a name IDNA cannot encode, a NUL
        raise UnsafeWebhookUrl(f"{url}: {host} does not resolve") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        reason = _refusal(addr, allow_private, allow_loopback)
        if reason is not None:
            raise UnsafeWebhookUrl(f"{url}: {host} resolves to {reason} ({addr})")
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise UnsafeWebhookUrl(f"{url}: {host} does not resolve")
    return addresses
