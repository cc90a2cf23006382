"""The message buffer (debounce) in Redis: bursts from one customer are answered once.

State lives only in Redis, so a restart or a second replica loses nothing:
- `buf:items:{key}`  list of pending items (JSON), oldest first;
- `buf:meta:{key}`   hash: tenant, thread, channel, contact, first_at, due_at;
- `buf:due`          sorted set of keys by due time;
- `buf:lease:{key}`  the flusher that holds the key, with a TTL;
- `buf:tenant:{id}`  sorted set of one tenant's live keys (the admin list).

Adding to a buffer and answering it also write `buffer.updated` to the tenant's live feed
(shared/events/live.py) from the same script: no round trip of its own.

Each new item restarts the window, capped at first_at + max_wait. A flusher claims due keys with
one Lua script, so two replicas never take the same burst; the claim is a lease, so a flusher that
dies mid-answer hands the burst to the next one when the lease runs out. `ack` removes exactly the
items that were answered; anything that arrived meanwhile stays for the next flush.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from shared.events.live import LIVE_MAXLEN, live_stream

DUE = "buf:due"
_ITEMS = "buf:items:{}"
_META = "buf:meta:{}"
_LEASE = "buf:lease:{}"
_TENANT = "buf:tenant:{}"
MAX_ITEMS = 200  # a burst larger than this is flushed at once

_ADD = """
local items, meta, due, tenant_set, live = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local key, item, now, window, max_wait, max_items, live_max =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local n = redis.call('RPUSH', items, item)
local first = tonumber(redis.call('HGET', meta, 'first_at'))
if not first then
  first = now
  redis.call('HSET', meta, 'first_at', now)
  for i = 8, #ARGV, 2 do redis.call('HSET', meta, ARGV[i], ARGV[i + 1]) end
end
local deadline = math.min(now + window, first + max_wait)
if n >= max_items then deadline = now end
redis.call('HSET', meta, 'due_at', deadline)
redis.call('ZADD', due, deadline, key)
redis.call('ZADD', tenant_set, deadline, key)
redis.call('XADD', live, 'MAXLEN', '~', live_max, '*', 'type', 'buffer.updated',
  'data', cjson.encode({key = key, thread_id = string.match(key, ':(.*)$'), pending = n}))
return {n, tostring(deadline)}
"""

_CLAIM = """
local due, now, limit, lease_s, token = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local keys = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, key in ipairs(keys) do
  local lease = 'buf:lease:' .. key
  if redis.call('SET', lease, token, 'NX', 'PX', math.floor(lease_s * 1000)) then
    redis.call('ZADD', due, now + lease_s, key)
    local items = redis.call('LRANGE', 'buf:items:' .. key, 0, -1)
    local meta = redis.call('HGETALL', 'buf:meta:' .. key)
    table.insert(out, {key, items, meta})
  else
    -- someone holds it: look again when their lease can have run out
    local ttl = redis.call('PTTL', lease)
    redis.call('ZADD', due, now + math.max(ttl, 100) / 1000, key)
  end
end
return out
"""

_ACK = """
local items, meta, due, lease, tenant_set, live = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local key, token, n, now, live_max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
if redis.call('GET', lease) ~= token then return -1 end
redis.call('LTRIM', items, n, -1)
redis.call('DEL', lease)
local left = redis.call('LLEN', items)
if left == 0 then
  redis.call('DEL', items, meta)
  redis.call('ZREM', due, key)
  redis.call('ZREM', tenant_set, key)
else
  -- what arrived while we answered starts a new burst
  redis.call('HSET', meta, 'first_at', now)
  local d = tonumber(redis.call('HGET', meta, 'due_at')) or now
  if d < now then d = now end
  redis.call('ZADD', due, d, key)
end
redis.call('XADD', live, 'MAXLEN', '~', live_max, '*', 'type', 'buffer.updated',
  'data', cjson.encode({key = key, thread_id = string.match(key, ':(.*)$'), pending = left}))
return left
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  return 1
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_FLUSH_NOW = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], 'due_at', ARGV[2])
return 1
"""


@dataclass
class Claim:
    key: str
    token: str
    items: list[dict[str, Any]]
    meta: dict[str, str]


@dataclass
class BufferView:
    key: str
    meta: dict[str, str]
    items: list[dict[str, Any]]


def _tenant_of(key: str) -> str:
    return key.split(":", 1)[0]


def buffer_key(tenant_id: uuid.UUID | str, thread_id: uuid.UUID | str) -> str:
    """One buffer per conversation; the tenant is part of the key so a key never crosses tenants."""
    return f"{tenant_id}:{thread_id}"


class BufferStore:
    def __init__(self, redis: Redis, lease_seconds: float = 60.0) -> None:
        self.redis = redis
        self.lease_seconds = lease_seconds
        self._add = redis.register_script(_ADD)
        self._claim = redis.register_script(_CLAIM)
        self._ack = redis.register_script(_ACK)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._flush_now = redis.register_script(_FLUSH_NOW)

    async def add(
        self,
        key: str,
        item: dict[str, Any],
        *,
        window: float,
        max_wait: float,
        meta: dict[str, str],
        now: float | None = None,
    ) -> tuple[int, float]:
        """Append an item; returns (items pending, due time). The window restarts, capped by max_wait."""
        now = time.time() if now is None else now
        flat: list[str] = []
        for k, v in meta.items():
            flat += [k, str(v)]
        tenant = _tenant_of(key)
        n, due = await self._add(
            keys=[_ITEMS.format(key), _META.format(key), DUE, _TENANT.format(tenant), live_stream(tenant)],
            args=[key, orjson.dumps(item), now, window, max_wait, MAX_ITEMS, LIVE_MAXLEN, *flat],
        )
        return int(n), float(due)

    async def claim_due(self, limit: int = 20, now: float | None = None) -> list[Claim]:
        now = time.time() if now is None else now
        token = uuid.uuid4().hex
        rows = await self._claim(keys=[DUE], args=[now, limit, self.lease_seconds, token])
        claims = []
        for key, items, meta in rows:
            pairs = [m.decode() if isinstance(m, bytes) else m for m in meta]
            claims.append(
                Claim(
                    key=key.decode() if isinstance(key, bytes) else key,
                    token=token,
                    items=[orjson.loads(i) for i in items],
                    meta=dict(zip(pairs[::2], pairs[1::2], strict=True)),
                )
            )
        return claims

    async def ack(self, claim: Claim, now: float | None = None) -> int:
        """Drop the answered items; -1 if our lease was lost (someone else now owns the burst)."""
        now = time.time() if now is None else now
        return int(
            await self._ack(
                keys=[
                    _ITEMS.format(claim.key),
                    _META.format(claim.key),
                    DUE,
                    _LEASE.format(claim.key),
                    _TENANT.format(_tenant_of(claim.key)),
                    live_stream(_tenant_of(claim.key)),
                ],
                args=[claim.key, claim.token, len(claim.items), now, LIVE_MAXLEN],
            )
        )

    async def release(self, claim: Claim, retry_in: float = 5.0) -> bool:
        """Give a claimed burst back (the answer failed); it is tried again in `retry_in` seconds."""
        return bool(
            await self._release(
                keys=[_LEASE.format(claim.key), DUE], args=[claim.token, claim.key, time.time() + retry_in]
            )
        )

    async def renew(self, claim: Claim) -> bool:
        """Extend our lease while we answer (a live flusher never loses its burst); False if it was lost already."""
        return bool(
            await self._renew(keys=[_LEASE.format(claim.key)], args=[claim.token, int(self.lease_seconds * 1000)])
        )

    async def flush_now(self, key: str) -> bool:
        """Make a live buffer due at once (admin force flush); False if there is no such buffer."""
        return bool(await self._flush_now(keys=[_ITEMS.format(key), DUE, _META.format(key)], args=[key, time.time()]))

    async def list(self, tenant_id: uuid.UUID | str, limit: int = 200) -> list[BufferView]:
        """Live buffers of one tenant, soonest due first."""
        keys = await self.redis.zrange(_TENANT.format(tenant_id), 0, max(0, min(limit, 200) - 1))
        views = [await self.get(k.decode()) for k in keys]
        return [v for v in views if v is not None]

    async def get(self, key: str) -> BufferView | None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(_META.format(key))
            pipe.lrange(_ITEMS.format(key), 0, MAX_ITEMS - 1)
            meta, items = await pipe.execute()
        if not items:
            return None
        return BufferView(
            key=key, meta={k.decode(): v.decode() for k, v in meta.items()}, items=[orjson.loads(i) for i in items]
        )
