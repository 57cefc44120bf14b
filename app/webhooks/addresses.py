"""Where webhooks may be sent: absolute http(s) URLs on public addresses.

Unless ``webhook_allow_private`` is set, a URL whose host is (or resolves to) a loopback, private,
link-local, unspecified, multicast, reserved or otherwise non-global address is refused, so that a
subscriber cannot make the service call into its own network. A host name is resolved with a short
timeout; a name that does not resolve (yet) is accepted, and every delivery checks again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

RESOLVE_TIMEOUT_SECONDS = 2.0
LOCAL_NAMES = ("localhost", "localhost.localdomain")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    scheme: str  # lower case
    host: str  # lower case, without brackets or a trailing dot
    port: int
    url: str  # the URL with its scheme in lower case


class InvalidUrl(ValueError):
    """Not an absolute http(s) URL with a host; ``kind`` names the issue."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(kind)


def parse(url: str) -> Target:
    """Parse ``url`` the way the sender (httpx) will, so that the host checked is the host called."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in url):
        raise InvalidUrl("url_invalid")
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").rstrip(".").lower()
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise InvalidUrl("url_invalid") from None
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidUrl("url_scheme")
    if not host or (parsed.port is not None and not 0 < parsed.port < 65536):
        raise InvalidUrl("url_invalid")
    return Target(scheme=scheme, host=host, port=parsed.port or (443 if scheme == "https" else 80),
                  url=scheme + url[len(url.split(":", 1)[0]):])


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a global unicast address (an IPv4-mapped IPv6 address counts as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified
        or address.is_multicast or address.is_reserved or not address.is_global
    )


async def resolve(host: str, port: int) -> list[IPAddress] | None:
    """The addresses ``host`` resolves to, or None when it does not resolve within the time allowed."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (TimeoutError, OSError, UnicodeError):
        return None
    found: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        address = literal_address(str(sockaddr[0]).split("%", 1)[0])
        if address is not None:
            found.append(address)
    return found or None


@dataclass(frozen=True)
class Refusal:
    """Why a host may not be called, in English (for the delivery log too) and in Chinese."""

    en: str
    zh: str


async def refusal(target: Target, *, resolve_names: bool = True) -> Refusal | None:
    """Why ``target``'s host is not a public address, or None when it may be used.

    With ``resolve_names`` a host name is resolved; a name that does not resolve is not refused.
    """
    literal = literal_address(target.host)
    if literal is not None:
        return None if is_public(literal) else Refusal(f"{literal} is not a public address", f"{literal} 不是公网地址")
    if target.host in LOCAL_NAMES or target.host.endswith(".localhost"):
        return Refusal(f"{target.host} names this machine", f"{target.host} 指向本机")
    if not resolve_names:
        return None
    addresses = await resolve(target.host, target.port)
    for address in addresses or ():
        if not is_public(address):
            return Refusal(f"{target.host} resolves to {address}, not a public address",
                           f"{target.host} 解析为 {address}，不是公网地址")
    return None
