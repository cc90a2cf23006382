"""Outbound HTTP to URLs a tenant gave us (webhooks, tools): resolve once, check the address, connect to it.

A check on one DNS answer followed by a connect that resolves again is a DNS-rebinding window: the name answers a
public address to the check and 127.0.0.1 to the connect. Here the transport resolves the name itself (through an
injectable `Resolver`), refuses the request unless every address is allowed by the `EgressPolicy`, and sends the
request to that very address, keeping the Host header and the TLS server name (SNI and certificate check) of the
original host. Every request is checked, so a caller that follows redirects re-checks each hop; the client built
here follows none. Response bodies are streamed and stopped at the policy's cap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the name resolves to; the system's by default, a stub in tests.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class EgressRefused(Exception):
    """The URL is not one we call: bad scheme, unresolvable, or an address in a refused range."""


class ResponseTooLarge(Exception):
    """The answer is longer than the policy allows; reading stopped there."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The OS resolver, on the event loop's executor (never blocks the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64, IPv4-compatible), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, CGNAT, multicast, reserved, unspecified, ULA,
    site-local, nor an IPv6 address wrapping one of those."""
    if (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
    ):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            return is_public(inner)
    return True


@dataclass(frozen=True)
class EgressPolicy:
    """What outbound calls may reach. `allow_private` is for tests and local set-ups only."""

    allow_private: bool = False
    max_response_bytes: int = 1024 * 1024
    resolve_timeout: float = 5.0
    schemes: frozenset[str] = frozenset({"http", "https"})

    def check_address(self, host: str, ip: IPAddress) -> None:
        if not self.allow_private and not is_public(ip):
            # the address stays out of the message: it would tell a tenant what our internal names resolve to
            raise EgressRefused(f"{host} does not resolve to a public address")


@dataclass(frozen=True)
class Target:
    """One checked destination: the name the caller gave and the address we will connect to."""

    host: str
    port: int
    address: IPAddress


class EgressGuard:
    """Resolves a URL's host once and checks every answer; the transport and the up-front checks both use it."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver

    async def target(self, url: str | httpx.URL) -> Target:
        try:
            parsed = httpx.URL(url) if isinstance(url, str) else url
        except (httpx.InvalidURL, TypeError, ValueError):
            raise EgressRefused("not a valid URL") from None
        if parsed.scheme not in self.policy.schemes or not parsed.host:
            raise EgressRefused(f"only {'/'.join(sorted(self.policy.schemes))} URLs with a host are allowed")
        host = parsed.host
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            answers = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                found = await asyncio.wait_for(self.resolver(host, port), self.policy.resolve_timeout)
                answers = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
            except (OSError, ValueError, UnicodeError, TimeoutError) as exc:
                raise EgressRefused(f"cannot resolve {host}") from exc
        if not answers:
            raise EgressRefused(f"cannot resolve {host}")
        for ip in answers:  # one refused answer refuses the name: a mixed answer is how rebinding starts
            self.policy.check_address(host, ip)
        return Target(host=host, port=port, address=answers[0])


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, cap: int) -> None:
        self.stream = stream
        self.cap = cap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.stream:
            seen += len(chunk)
            if seen > self.cap:
                raise ResponseTooLarge(f"the response is larger than {self.cap} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self.stream.aclose()


class EgressTransport(httpx.AsyncBaseTransport):
    """Sends each request to the address its host was checked at, with the original Host header and TLS name."""

    def __init__(self, guard: EgressGuard, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.guard = guard
        # No keep-alive: a pooled connection is keyed by address, and two names on one address must never share a
        # TLS session verified for only one of them.
        self.inner = inner or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = await self.guard.target(request.url)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=str(target.address)),
            headers=request.headers,  # Host: the original name (and port), set when the request was built
            stream=request.stream,
            extensions=extensions,
        )
        response = await self.inner.handle_async_request(pinned)
        cap = self.guard.policy.max_response_bytes
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            await response.aclose()
            raise ResponseTooLarge(f"the response is larger than {cap} bytes")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, cap),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def create_egress_client(
    policy: EgressPolicy, resolver: Resolver | None = None, timeout: float = 10.0
) -> httpx.AsyncClient:
    """The client for tenant-given URLs: checked addresses, no redirects, no proxies from the environment."""
    return httpx.AsyncClient(
        transport=EgressTransport(EgressGuard(policy, resolver)),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of a streamed answer, and whether there was more (the rest is never read)."""
    body = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                return bytes(body[:limit]), True
    except ResponseTooLarge:
        return bytes(body[:limit]), True
    return bytes(body), False
