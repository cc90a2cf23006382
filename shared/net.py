"""Which peers may speak for the client (X-Forwarded-For), by IP or CIDR, shared by the gateway and services."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


class TrustedProxies:
    """Peers whose X-Forwarded-* we believe; the client is the first untrusted hop from the right."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._known: dict[str, bool] = {}

    def trusted(self, ip: str) -> bool:
        if not self.networks:
            return False
        hit = self._known.get(ip)
        if hit is None:
            try:
                addr = ipaddress.ip_address(ip)
                hit = any(addr in n for n in self.networks)
            except ValueError:
                hit = False
            if len(self._known) < 10_000:
                self._known[ip] = hit
        return hit

    def client_ip(self, peer: str, x_forwarded_for: str) -> str:
        """The first untrusted hop from the right; all trusted: the leftmost; a hop that is no IP ends the walk."""
        if not self.trusted(peer):
            return peer
        client = peer
        for hop in reversed(x_forwarded_for.split(",")):
            hop = hop.strip()
            if not hop:
                continue
            if self.trusted(hop):
                client = hop
                continue
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return client
        return client
