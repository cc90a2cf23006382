"""Login brute-force guard: password attempts per (account, client), per account and per client, in Redis.

Three moving windows, so nobody can lock an owner out: per (account, client) tight (one attacker guessing one
account), per account loose (many addresses guessing one account; high enough that one address at its tight limit
never reaches it) and per client over every account (one address spraying many accounts). An attempt RESERVES a
slot in all three in one Lua call (all or nothing, Redis' own clock) before the password is checked, so parallel
guesses cannot all pass a check before any is counted; a correct password gives its slot back, so only failures
count (the script: shared/moving_window.py).
"""

from __future__ import annotations

import hashlib

from limits import RateLimitItem, parse_many

from services.auth.tokens.errors import TooManyAttempts
from shared.moving_window import RELEASE_LUA, RESERVE_LUA


class Attempt:
    """A reserved slot; `passed()` gives it back (a correct password), otherwise it stays counted as a failure."""

    __slots__ = ("_limiter", "_keys", "_stamp")

    def __init__(self, limiter: LoginLimiter, keys: list[str], stamp: bytes) -> None:
        self._limiter, self._keys, self._stamp = limiter, keys, stamp

    async def passed(self) -> None:
        await self._limiter.release(keys=self._keys, args=[self._stamp])


class LoginLimiter:
    """Checked before the password is verified; only failures count, whether or not the email exists."""

    def __init__(self, redis, account_client_limit: str, account_limit: str, ip_limit: str) -> None:
        self.reserve = redis.register_script(RESERVE_LUA)
        self.release = redis.register_script(RELEASE_LUA)
        self.limits: tuple[tuple[str, tuple[RateLimitItem, ...]], ...] = tuple(
            (kind, tuple(parse_many(spec)) if spec.strip() else ())
            for kind, spec in (("account_client", account_client_limit), ("account", account_limit), ("ip", ip_limit))
        )

    def _keys(self, account: str, ip: str) -> tuple[list[str], list[int]]:
        digest = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]
        idents = {"account_client": f"{digest}:{ip}", "account": digest, "ip": ip}
        keys: list[str] = []
        args: list[int] = []
        for kind, items in self.limits:
            for item in items:
                keys.append(f"auth:login:{kind}:{item.amount}/{item.get_expiry()}:{idents[kind]}")
                args += (item.amount, item.get_expiry())
        return keys, args

    async def begin(self, account: str, ip: str) -> Attempt | None:
        """Reserve one attempt, or 429 (TooManyAttempts with Retry-After) when any of the limits is reached."""
        keys, args = self._keys(account, ip)
        if not keys:
            return None
        index, value = await self.reserve(keys=keys, args=args)
        if int(index):
            raise TooManyAttempts(int(value), "too many failed login attempts; try again later")
        return Attempt(self, keys, value)
