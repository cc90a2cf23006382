"""Messages per visitor: the moving window the gateway and auth count with (shared/moving_window.py)."""

from __future__ import annotations

import uuid

from limits import RateLimitItem, parse_many

from services.channels.web.errors import VisitorRateLimited
from shared.moving_window import RESERVE_LUA


class VisitorLimiter:
    def __init__(self, redis, spec: str) -> None:
        self.items: tuple[RateLimitItem, ...] = tuple(parse_many(spec)) if spec.strip() else ()
        self.reserve = redis.register_script(RESERVE_LUA)

    async def hit(self, visitor_id: uuid.UUID) -> None:
        """Count one message, or 429 with Retry-After when any limit is reached (a refused one counts against none)."""
        if not self.items:
            return
        keys = [f"channels:widget:visitor:{i.amount}/{i.get_expiry()}:{visitor_id}" for i in self.items]
        args: list[int] = []
        for item in self.items:
            args += (item.amount, item.get_expiry())
        index, value = await self.reserve(keys=keys, args=args)
        if int(index):
            raise VisitorRateLimited(int(value), "too many messages from this visitor; wait a moment")
