"""Login brute-force guard: failed attempts per account and per client IP in a Redis moving window."""

from __future__ import annotations

import hashlib
import math
import time

from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from services.auth.tokens.errors import TooManyAttempts


class LoginLimiter:
    """Checked before the password is verified; only failures count, whether or not the email exists."""

    def __init__(self, redis_url: str, account_limit: str, ip_limit: str) -> None:
        self.storage = RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix="auth:login")
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.per_account = parse(account_limit)
        self.per_ip = parse(ip_limit)

    def _items(self, account: str, ip: str):
        digest = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]
        return ((self.per_account, f"account:{digest}"), (self.per_ip, f"ip:{ip}"))

    async def check(self, account: str, ip: str) -> None:
        for item, ident in self._items(account, ip):
            if not await self.limiter.test(item, ident):
                stats = await self.limiter.get_window_stats(item, ident)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise TooManyAttempts(retry_after, "too many failed login attempts; try again later")

    async def failed(self, account: str, ip: str) -> None:
        for item, ident in self._items(account, ip):
            await self.limiter.hit(item, ident)
