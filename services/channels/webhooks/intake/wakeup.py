"""Relay wake-ups of the webhook intake: at most one NOTIFY per interval per API process, not one per message."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from shared.events.outbox import NOTIFY_CHANNEL
from shared.logging import get_logger

log = get_logger("channels.intake")


class RelayWake:
    """When this process NOTIFYs the channels relay about stored messages: in the insert itself if its last wake-up
    is at least `interval` seconds old, else by one trailing NOTIFY at the end of the interval, sent after the commit
    it covers. 0 = every stored message notifies, as a plain outbox write does.

    Only a hint: a NOTIFY lost with a connection (or never sent: the process died) costs the message the relay's
    poll interval, never the message itself (it is committed; the relay polls)."""

    def __init__(self, pool: asyncpg.Pool, interval: float, schema: str) -> None:
        self.pool = pool
        self.interval = interval
        self.schema = schema
        self._last = -float("inf")
        self._armed = False  # a trailing NOTIFY is scheduled and not sent yet
        self._task: asyncio.Task | None = None

    def inline(self) -> bool:
        """Whether the next insert NOTIFYs itself. Claimed at once, so concurrent inserts of this process do not."""
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False

    def after_commit(self) -> None:
        """A message was committed without a NOTIFY of its own: make sure one is sent after this point. One task at
        most: a commit made while a NOTIFY is being sent re-arms it, and the task sends once more."""
        if self._armed:
            return  # a NOTIFY is scheduled and not sent yet, so it is sent after this commit
        self._armed = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._trailing())

    async def _trailing(self) -> None:
        while self._armed:
            await asyncio.sleep(max(0.0, self._last + self.interval - time.monotonic()))
            self._armed = False  # a commit from here on needs a NOTIFY sent after it: the next round
            self._last = time.monotonic()
            try:
                async with self.pool.acquire(timeout=5) as conn:
                    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, self.schema)
            except Exception as exc:  # noqa: BLE001 - a hint only: the relay's poll takes the row
                log.info("relay_wake_failed", error=type(exc).__name__)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
