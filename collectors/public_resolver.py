"""Name resolution that refuses private addresses, done by the connection itself.

A check that resolves a name and then lets the HTTP client resolve it again to connect leaves a
window: a name can answer a public address to the check and a private one to the connection (DNS
rebinding). `PublicResolver` sits on the client's connector instead, so the addresses it vets are
the very ones connected to. IP literals never reach a resolver: `check_literal` vets them.
"""
from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class PrivateAddress(OSError):
    """A name resolved to (or a URL names) a loopback, private, link-local or reserved address."""


def is_private(address: str) -> bool:
    """Whether `address` (an IP literal, IPv6 zone allowed) is not a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for private, loopback, link-local, reserved, unspecified, documentation
    # and shared (100.64.0.0/10, carrier NAT) ranges alike; multicast is no upstream either.
    return not ip.is_global or ip.is_multicast


def is_ip(host: str) -> bool:
    """Whether `host` is an IP literal rather than a name."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def check_literal(host: str) -> None:
    """Raise PrivateAddress when `host` is an IP literal that is not public (names: the resolver's job)."""
    if is_ip(host) and is_private(host):
        raise PrivateAddress(f"{host} is not a public address")


class PublicResolver(AbstractResolver):
    """Resolves through `inner` (the system resolver by default) and refuses a name with any
    non-public address, so a connection through this resolver reaches public addresses only."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of `host`, or PrivateAddress when any of them is not public."""
        results = await self._inner.resolve(host, port, family)
        private = [r["host"] for r in results if is_private(r["host"])]
        if private:
            raise PrivateAddress(f"{host!r} resolves to non-public address {private[0]}")
        return results

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()
