"""Rate limits per route group and identity, counted in Redis.

Limits are parsed by the `limits` library. With the default moving window, every limit that applies to a request
(user and tenant, several windows each) is checked and counted by ONE Lua script in ONE Redis round trip
(`shared/moving_window.py`): all or nothing (a request refused by one limit counts against none), Redis' own clock, and
the script also returns when the refusing window frees a slot, so a 429 costs no second round trip. The Redis
layout is the `limits` moving window's own (a list of timestamps under `LIMITS:<item.key_for(...)>`), so
`limits`' tools read the same counters. The other strategies (`sliding-window-counter`, `fixed-window`) go
through `limits`' own Redis storage: one round trip per limit. While Redis is down, the same limits are enforced
per process by an in-memory `limits` limiter, and the switch is logged both ways.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from redis.commands.core import AsyncScript as Script

from gateway.config import GatewaySettings
from gateway.redis_script import RedisScript
from shared.moving_window import RESERVE_LUA

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
        # moving window: one script call per request on our own pipelined RESP connection (gateway/redis_script.py;
        # redis-py for other URL schemes); other strategies: the `limits` Redis storage
        self.script: RedisScript | Script | None = None
        self.redis: aioredis.Redis | None = None
        if strategy is MovingWindowRateLimiter:
            try:
                self.script = RedisScript(settings.redis_url, RESERVE_LUA, timeout=settings.rate_limit_redis_timeout)
            except ValueError:
                self.redis = aioredis.Redis.from_url(
                    settings.redis_url,
                    socket_timeout=settings.rate_limit_redis_timeout,
                    socket_connect_timeout=settings.rate_limit_redis_timeout,
                )
                self.script = self.redis.register_script(RESERVE_LUA)
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
            if self.script is not None:
                refusal = await self._check_script(jobs)
            else:
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

    async def _check_script(self, jobs) -> Refusal | None:
        keys = []
        args: list[int] = []
        for item, ids in jobs:
            keys.append("LIMITS:" + item.key_for(*ids))
            args += (item.amount, item.get_expiry())
        index, wait = await self.script(keys=keys, args=args)
        if not index:
            return None
        return Refusal(jobs[int(index) - 1][0], retry_after=int(wait), reset_in=int(wait))

    async def _check_with(self, limiter: RateLimiter, jobs) -> Refusal | None:
        if isinstance(limiter.storage, MemoryStorage):
            # in memory: test every limit first, so a refused request counts against none (like the script)
            for item, ids in jobs:
                if not await limiter.test(item, *ids):
                    return await self._refusal(limiter, item, ids)
        if len(jobs) == 1:
            item, ids = jobs[0]
            allowed = [await limiter.hit(item, *ids)]
        else:
            allowed = await asyncio.gather(*(limiter.hit(item, *ids) for item, ids in jobs))
        for ok, (item, ids) in zip(allowed, jobs, strict=True):
            if not ok:
                return await self._refusal(limiter, item, ids)
        return None

    @staticmethod
    async def _refusal(limiter: RateLimiter, item: RateLimitItem, ids) -> Refusal:
        stats = await limiter.get_window_stats(item, *ids)
        reset_in = max(1, math.ceil(stats.reset_time - time.time()))
        return Refusal(item, retry_after=reset_in, reset_in=reset_in)

    async def aclose(self) -> None:
        if isinstance(self.script, RedisScript):
            await self.script.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None:
            await client.aclose()


class AuthFailures:
    """Refused credentials per client IP, counted in the `failed_auth` group. A client over that limit is also
    remembered in this process until its Retry-After, so its further unknown API keys are refused here without a
    call to auth (and without a Redis round trip); credentials already known good still pass."""

    def __init__(self, limiter: EdgeRateLimiter, size: int = 10_000) -> None:
        self.limiter = limiter
        self.size = size
        self._until: dict[str, float] = {}  # client ip -> monotonic deadline

    def blocked(self, client: str) -> int:
        """Seconds this client must still wait (0: not blocked)."""
        if not self._until:
            return 0
        until = self._until.get(client)
        if until is None:
            return 0
        left = until - time.monotonic()
        if left <= 0:
            del self._until[client]
            return 0
        return math.ceil(left)

    async def failed(self, client: str) -> Refusal | None:
        """Count one refused credential; the Refusal once the client is over its limit."""
        refusal = await self.limiter.check([("failed_auth", "ip", client)])
        if refusal is not None:
            if len(self._until) >= self.size:
                now = time.monotonic()
                self._until = {c: u for c, u in self._until.items() if u > now}
                if len(self._until) >= self.size:
                    self._until.clear()
            self._until[client] = time.monotonic() + refusal.retry_after
        return refusal
