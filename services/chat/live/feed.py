"""The caller's tenant's live stream as server-sent events, resuming after `Last-Event-ID`."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

from shared.events.live import live_stream, read_entry

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
REPLAY_MAX = 500  # entries replayed after a reconnect (the stream keeps about LIVE_MAXLEN)


def resume_from(last_event_id: str | None) -> str | None:
    """The stream id to resume after, if the client sent a valid one (anything else starts from now)."""
    if last_event_id and _STREAM_ID.match(last_event_id.strip()):
        return last_event_id.strip()
    return None


class LiveFeed:
    """One client's feed: what it missed since `last_id` (XRANGE), then what comes (XREAD BLOCK, short blocks so a
    closed connection is noticed and the Redis client's socket timeout is never reached)."""

    def __init__(self, redis, tenant_id: uuid.UUID, last_id: str | None, *, block_ms: int = 2000) -> None:
        self.redis = redis
        self.stream = live_stream(tenant_id)
        self.last_id = last_id
        self.block_ms = block_ms

    async def events(self) -> AsyncIterator[dict]:
        if self.last_id is None:
            newest = await self.redis.xrevrange(self.stream, count=1)
            self.last_id = newest[0][0].decode() if newest else "0-0"
        else:
            missed = await self.redis.xrange(self.stream, min=f"({self.last_id}", count=REPLAY_MAX)
            for entry_id, fields in missed:
                yield self._event(entry_id, fields)
        while True:
            answer = await self.redis.xread({self.stream: self.last_id}, count=100, block=self.block_ms)
            for entry_id, fields in answer[0][1] if answer else []:
                yield self._event(entry_id, fields)

    def _event(self, entry_id: bytes, fields: dict[bytes, bytes]) -> dict:
        entry = read_entry(entry_id, fields)
        self.last_id = entry.id
        return {"id": entry.id, "event": entry.type, "data": entry.data}
