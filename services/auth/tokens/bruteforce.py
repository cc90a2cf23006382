"""Login brute-force guard: password attempts per (account, client), per account and per client, in Redis.

Three moving windows, so nobody can lock an owner out: per (account, client) tight (one attacker guessing one
account), per account loose (many addresses guessing one account; high enough that one address at its tight limit
never reaches it) and per client over every account (one address spraying many accounts). An attempt RESERVES a
slot in all three in one Lua call (all or nothing, Redis' own clock) before the password is checked, so parallel
guesses cannot all pass a check before any is counted; a correct password gives its slot back, so only failures
count. The layout is the `limits` moving window's (a list of timestamps per key, newest first).
"""

from __future__ import annotations

import hashlib

from limits import RateLimitItem, parse_many

from services.auth.tokens.errors import TooManyAttempts

# KEYS: one list per limit. ARGV: (amount, expiry seconds) per key.
# Returns {0, stamp} when a slot was taken in every list, else {index of the refusing key (1-based), seconds to wait}.
RESERVE_LUA = """
local t = redis.call('time')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #KEYS do
    local expiry = tonumber(ARGV[2 * i])
    local entry = redis.call('lindex', KEYS[i], tonumber(ARGV[2 * i - 1]) - 1)
    if entry and tonumber(entry) >= now - expiry then
        return {i, math.max(1, math.ceil(tonumber(entry) + expiry - now))}
    end
end
local stamp = string.format('%.6f', now)
for i = 1, #KEYS do
    redis.call('lpush', KEYS[i], stamp)
    redis.call('ltrim', KEYS[i], 0, tonumber(ARGV[2 * i - 1]) - 1)
    redis.call('expire', KEYS[i], tonumber(ARGV[2 * i]))
end
return {0, stamp}
"""
# KEYS: the lists a reservation went into. ARGV: its stamp.
RELEASE_LUA = """
for i = 1, #KEYS do
    redis.call('lrem', KEYS[i], 1, ARGV[1])
end
return 0
"""


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
