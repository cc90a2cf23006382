"""A web conversation's transcript: one capped Redis stream per visitor, and its live fan-out.

What the visitor was shown (their own messages, the answers and agent replies delivered to them) is appended here,
never tool calls or internal notes: the stream is at once the widget's history (`GET /api/v1/widget/messages`),
the replay of a reconnect (`Last-Event-ID` is the entry id) and, with one PUBLISH in the same script, the live
event every channels replica receives and hands to the streams it holds (web/hub.py). Chat keeps the full record.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

LIVE_CHANNEL = "channels.widget.live"  # pub/sub: every channels API process subscribes (web/hub.py)
_KEY_PREFIX = "channels.widget.conv:"
ROLES = ("user", "assistant", "agent")
_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")

# KEYS: the conversation's stream. ARGV: maxlen, ttl seconds, live channel, conversation, role, content, created_at.
_APPEND_LUA = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                      'role', ARGV[5], 'content', ARGV[6], 'created_at', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], cjson.encode({c = ARGV[4], e = 'message', id = id, role = ARGV[5],
                                             content = ARGV[6], created_at = ARGV[7]}))
return id
"""


def conversation(channel_id: uuid.UUID | str, visitor_id: uuid.UUID | str) -> str:
    """The conversation's name in keys and live events."""
    return f"{channel_id}:{visitor_id}"


def entry_id(value: str | None) -> str | None:
    """A stream entry id the client sent (Last-Event-ID, `after`), or None if it is not one."""
    if value and _ENTRY_ID.match(value.strip()):
        return value.strip()
    return None


def id_after(a: str, b: str) -> bool:
    """Entry id `a` comes after `b`."""
    am, _, aseq = a.partition("-")
    bm, _, bseq = b.partition("-")
    return (int(am), int(aseq)) > (int(bm), int(bseq))


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One message the visitor sees: what `message` events and history items carry."""

    id: str
    role: str
    content: str
    created_at: str

    def json(self) -> str:
        return orjson.dumps(
            {"id": self.id, "role": self.role, "content": self.content, "created_at": self.created_at}
        ).decode()


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> TranscriptEntry:
    return TranscriptEntry(
        id=entry_id.decode(),
        role=fields[b"role"].decode(),
        content=fields[b"content"].decode(),
        created_at=fields[b"created_at"].decode(),
    )


class Transcript:
    """Appends (with their live event) and reads of the conversations' streams, on a redis-py asyncio client."""

    def __init__(self, redis, *, maxlen: int = 500, ttl_days: int = 30) -> None:
        self.redis = redis
        self.maxlen = maxlen
        self.ttl_seconds = ttl_days * 86400
        self._append = redis.register_script(_APPEND_LUA)

    async def append(self, conv: str, role: str, content: str, created_at: datetime) -> str:
        """Store one message and publish it, in one script run; its entry id."""
        args = [self.maxlen, self.ttl_seconds, LIVE_CHANNEL, conv, role, content, created_at.isoformat()]
        entry = await self._append(keys=[_KEY_PREFIX + conv], args=args)
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    async def typing(self, conv: str) -> None:
        """A typing hint: live only, never stored (a replay of an old one would mislead)."""
        await self.redis.publish(LIVE_CHANNEL, orjson.dumps({"c": conv, "e": "typing"}))

    async def after(self, conv: str, after: str, count: int) -> list[TranscriptEntry]:
        """Entries after `after`, oldest first."""
        rows = await self.redis.xrange(_KEY_PREFIX + conv, min=f"({after}", count=count)
        return [_entry(i, f) for i, f in rows]

    async def latest(self, conv: str, count: int) -> list[TranscriptEntry]:
        """The newest `count` entries, oldest first."""
        rows = await self.redis.xrevrange(_KEY_PREFIX + conv, count=count)
        return [_entry(i, f) for i, f in reversed(rows)]

    async def last_id(self, conv: str) -> str:
        """The newest entry's id ("0-0" for an empty conversation): where a stream without Last-Event-ID starts."""
        rows = await self.redis.xrevrange(_KEY_PREFIX + conv, count=1)
        return rows[0][0].decode() if rows else "0-0"
