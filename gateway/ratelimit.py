"""Rate limits per route group and identity, counted in Redis with the `limits` library.

One Redis round trip per limit on an allowed request (the strategy's `hit` is one Lua script); the window
statistics for `Retry-After` / `RateLimit-*` are read only when a request is refused. While Redis is down,
the same limits are enforced per process by an in-memory limiter, and the switch is logged both ways.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from gateway.config import GatewaySettings

log = structlog.get_logger("gateway.ratelimit")
STRATEGIES: dict[str, type[RateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
}


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: RateLimitItem
    retry_after: int
    reset_in: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"retry-after", str(self.retry_after).encode()),
            (b"ratelimit-limit", str(self.limit.amount).encode()),
            (b"ratelimit-remaining", b"0"),
            (b"ratelimit-reset", str(self.reset_in).encode()),
            (b"ratelimit-policy", _policy(self.limit)),
        ]


def _policy(item: RateLimitItem) -> bytes:
    return f"{item.amount};w={item.get_expiry()}".encode()


class EdgeRateLimiter:
    def __init__(self, settings: GatewaySettings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.config = settings.rate_limits
        strategy = STRATEGIES[settings.rate_limit_strategy]
        self.storage = RedisStorage(
            "async+" + settings.redis_url,
            implementation="redispy",
            wrap_exceptions=True,
            socket_timeout=settings.rate_limit_redis_timeout,
            socket_connect_timeout=settings.rate_limit_redis_timeout,
        )
        self.redis_limiter = strategy(self.storage)
        self.local_limiter = strategy(MemoryStorage())
        self.retry_seconds = settings.rate_limit_redis_retry_seconds
        self._redis_down_until = 0.0
        self._redis_down = False
        self._items: dict[tuple[str, str], tuple[RateLimitItem, ...]] = {}
        self._headers: dict[tuple[str, str], list[tuple[bytes, bytes]]] = {}

    def items(self, group: str, kind: str) -> tuple[RateLimitItem, ...]:
        """The limits of (route group, identity kind); the group's own entry wins over `default`."""
        key = (group, kind)
        items = self._items.get(key)
        if items is None:
            spec = self.config.get(group, {}).get(kind)
            if spec is None:
                spec = self.config.get("default", {}).get(kind, "")
            items = tuple(parse_many(spec)) if spec.strip() else ()
            self._items[key] = items
            # The tightest limit is the one a client should pace itself on.
            self._headers[key] = [(b"ratelimit-policy", b", ".join(_policy(i) for i in items))] if items else []
        return items

    def policy_headers(self, group: str, kind: str) -> list[tuple[bytes, bytes]]:
        self.items(group, kind)
        return self._headers[(group, kind)]

    @property
    def using_fallback(self) -> bool:
        return self._redis_down

    async def check(self, checks: list[tuple[str, str, str]]) -> Refusal | None:
        """`checks`: (group, kind, identity) triples; None when every limit allows the request."""
        if not self.enabled:
            return None
        jobs = [(item, ("gw", group, kind, ident)) for group, kind, ident in checks for item in self.items(group, kind)]
        if not jobs:
            return None
        if self._redis_down and time.monotonic() < self._redis_down_until:
            return await self._check_with(self.local_limiter, jobs)
        try:
            refusal = await self._check_with(self.redis_limiter, jobs)
        except Exception as exc:  # noqa: BLE001 - any storage failure: fall back, never fail open or closed
            self._redis_down_until = time.monotonic() + self.retry_seconds
            if not self._redis_down:
                self._redis_down = True
                log.error("rate_limit_redis_down", fallback="per-process memory limiter", error=type(exc).__name__)
            return await self._check_with(self.local_limiter, jobs)
        if self._redis_down:
            self._redis_down = False
            log.warning("rate_limit_redis_back", fallback="off")
        return refusal

    async def _check_with(self, limiter: RateLimiter, jobs) -> Refusal | None:
        if len(jobs) == 1:
            item, ids = jobs[0]
            allowed = [await limiter.hit(item, *ids)]
        else:
            allowed = await asyncio.gather(*(limiter.hit(item, *ids) for item, ids in jobs))
        for ok, (item, ids) in zip(allowed, jobs, strict=True):
            if not ok:
                stats = await limiter.get_window_stats(item, *ids)
                reset_in = max(1, math.ceil(stats.reset_time - time.time()))
                return Refusal(item, retry_after=reset_in, reset_in=reset_in)
        return None

    async def aclose(self) -> None:
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None:
            await client.aclose()
