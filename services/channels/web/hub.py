"""The live side of web conversations in one channels API process: one pub/sub subscription for all of them.

Every append to a transcript is published on LIVE_CHANNEL (web/transcript.py); the hub hands each event to the
visitor streams this process holds for that conversation. A stream registers here before it replays what it
missed (XRANGE), so nothing falls between the two; when the subscription drops, every stream re-reads its
transcript after its last id (RESYNC), so pub/sub losing messages costs a read, never a message. Typing hints are
the only thing that may be lost (they are not stored).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.channels.web.transcript import LIVE_CHANNEL

log = structlog.get_logger("widget")
RESYNC = object()  # re-read the transcript after the last id: something may have been missed
QUEUE_MAX = 64  # live events waiting for one slow client; past it the client re-reads instead


class Listener:
    """One visitor stream's inbox of live events (the decoded published dicts, or RESYNC)."""

    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue(QUEUE_MAX)

    def put(self, item: object) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:  # a client that does not read: drop what waits, re-read from the transcript
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class WidgetHub:
    def __init__(self, redis_url: str) -> None:
        # Its own connection: a subscription blocks for as long as nothing is published (no socket timeout).
        self.redis = aioredis.from_url(redis_url, socket_connect_timeout=2, socket_keepalive=True)
        self.listeners: dict[str, set[Listener]] = {}
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    @contextlib.contextmanager
    def listen(self, conv: str) -> Iterator[Listener]:
        listener = Listener()
        self.listeners.setdefault(conv, set()).add(listener)
        try:
            yield listener
        finally:
            held = self.listeners.get(conv)
            if held is not None:
                held.discard(listener)
                if not held:
                    del self.listeners[conv]

    def held(self, conv: str) -> int:
        """Streams of this conversation open in this process."""
        return len(self.listeners.get(conv, ()))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=3)
        await self.redis.aclose()

    def _dispatch(self, data: bytes) -> None:
        try:
            event = orjson.loads(data)
            held = self.listeners.get(event["c"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        for listener in held or ():
            listener.put(event)

    async def _run(self) -> None:
        first = True
        while not self._stopping:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(LIVE_CHANNEL)
                self.subscribed.set()
                if not first:  # events published while we were not subscribed: every stream re-reads
                    for held in list(self.listeners.values()):
                        for listener in held:
                            listener.put(RESYNC)
                first = False
                while not self._stopping:
                    # A bounded wait: redis-py can swallow a cancellation that lands in an unbounded read.
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.subscribed.clear()
                log.warning("widget_hub_disconnected", error=type(exc).__name__)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
