"""Which addresses a webhook may be sent to: never the instance's own network (loopback,
private, link-local, multicast, reserved, IPv6 unique-local, IPv4 inside IPv6) unless the
settings allow it, so an app admin cannot make the server probe or attack what sits beside
it (server-side request forgery).

The host is resolved once and every address it resolves to is checked; the request is then
sent to a checked address (`sending.py`), never resolved again, so a name that answers a
public address at the check and 127.0.0.1 a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.messages import M

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(FlowdeckError):
    """A webhook URL that may not be used (its `message` says why)."""


@dataclass(frozen=True)
class AddressPolicy:
    """What the settings allow besides public addresses: everything (`allow_private`,
    FLOWDECK_WEBHOOK_ALLOW_PRIVATE) or the networks of FLOWDECK_WEBHOOK_ALLOW_CIDRS."""

    allow_private: bool = False
    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> AddressPolicy:
        networks = tuple(ipaddress.ip_network(text, strict=False) for text in settings.get("FLOWDECK_WEBHOOK_ALLOW_CIDRS") or ())
        return cls(bool(settings.get("FLOWDECK_WEBHOOK_ALLOW_PRIVATE")), networks)


@dataclass(frozen=True)
class Target:
    """A checked URL: its scheme, host (as the request names it), port, path and the
    address the request connects to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: Address) -> bool:
    """Is `ip` an address on the public internet (what a webhook may reach by default)?"""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return False  # ::ffff:127.0.0.1 reaches 127.0.0.1: never needed by a real endpoint
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or ip in ipaddress.ip_network("fc00::/7")):
        return False
    if not ip.is_global:
        return False
    inner = _embedded_ipv4(ip)
    return inner is None or is_public(inner)


def allowed(ip: Address, policy: AddressPolicy) -> bool:
    if policy.allow_private or is_public(ip):
        return True
    plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None else ip
    return any(plain in network for network in policy.allowed if network.version == plain.version)


def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (an address literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused(M("the host %(host)s cannot be found", host=host)) from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in found))


def check_url(url: str, policy: AddressPolicy) -> Target:
    """The checked target of `url`, or AddressRefused saying what is wrong with it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise AddressRefused(M("the address is not a valid URL")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused(M("the address must start with https:// or http:// and name a host"))
    if parts.username is not None or parts.password is not None:
        raise AddressRefused(M("the address may not carry a user name or password; the signature authenticates Flowdeck"))
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(parts.hostname, port)
    refused = [ip for ip in addresses if not allowed(ip, policy)]
    if refused or not addresses:
        raise AddressRefused(
            M(
                "%(host)s is a private or reserved address (%(address)s): webhooks may not reach the server's own network "
                "unless FLOWDECK_WEBHOOK_ALLOW_PRIVATE or FLOWDECK_WEBHOOK_ALLOW_CIDRS allows it",
                host=parts.hostname,
                address=str(refused[0]) if refused else "-",
            )
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, str(addresses[0]))


def parse_cidrs(texts: Iterable[str]) -> tuple[str, ...]:
    """The networks of an allow-list, normalised; ValueError names the first that is not one."""
    found = []
    for text in texts:
        if text.strip():
            found.append(str(ipaddress.ip_network(text.strip(), strict=False)))
    return tuple(found)
