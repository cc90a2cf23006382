"""Group commit for the webhook intake: messages that arrive while its statements are in flight go together."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from prometheus_client import Histogram

from services.channels.webhooks.intake.statements import SQL_ACCEPT_MANY, InboundRow, Outcome
from shared.errors import ServiceUnavailable
from shared.events.channels import INBOUND_STREAM
from shared.events.direct import DIRECT_PUBLISH_GRACE_SECONDS

if TYPE_CHECKING:
    from services.channels.webhooks.intake.service import WebhookIntake

MAX_QUEUED = 10_000  # messages of one API process waiting for an intake statement


class _Waiting:
    __slots__ = ("row", "future")

    def __init__(self, row: InboundRow, future: asyncio.Future) -> None:
        self.row = row
        self.future = future


class InsertBatcher:
    """Group commit for the intake: at most `statements` accept statements of this process in flight; the messages
    that arrive meanwhile queue and go together, up to `max_rows` per statement, as soon as one finishes.

    A fixed set of sender tasks takes from one queue, so a request that gives up (its task cancelled) never strands
    the others, and a lone message is sent at the next turn of the event loop. Each message gets its own answer
    `Outcome`. A statement Postgres refuses (a NUL in one message's text) is re-run a row at a time, so
    only that message gets the error; the database being unavailable is every queued message's 503."""

    def __init__(
        self,
        intake: WebhookIntake,
        max_rows: int,
        statements: int,
        rows_seen: Histogram | None,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.intake = intake
        self.max_rows = max_rows
        self.max_queued = max_queued
        self.statements = statements
        self.rows_seen = rows_seen
        self._queue: deque[_Waiting] = deque()
        self._ready = asyncio.Event()
        self._senders: list[asyncio.Task] = []

    async def run(self, row: InboundRow) -> Outcome:
        if not self._senders:
            loop = asyncio.get_running_loop()
            self._senders = [loop.create_task(self._send_forever()) for _ in range(self.statements)]
        if len(self._queue) >= self.max_queued:  # Postgres is far behind: let the provider retry, keep memory bounded
            raise ServiceUnavailable("too many messages waiting to be stored; retry", headers={"Retry-After": "1"})
        waiting = _Waiting(row, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._ready.set()
        return await waiting.future

    async def _send_forever(self) -> None:
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            batch = []
            while self._queue and len(batch) < self.max_rows:
                waiting = self._queue.popleft()
                if not waiting.future.done():  # not given up on while it waited
                    batch.append(waiting)
            if batch:
                await self._send(batch)

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            answers = await self._execute([w.row for w in batch])
        except asyncio.CancelledError:  # closing: the process is stopping
            for w in batch:
                _settle(w.future, exc=_stopping())
            raise
        except ServiceUnavailable as exc:
            for w in batch:
                _settle(w.future, exc=exc)
        except Exception as exc:  # noqa: BLE001 - refused as a whole: find the message it was about
            if len(batch) == 1:
                _settle(batch[0].future, exc=exc)
                return
            for w in batch:
                try:
                    _settle(w.future, (await self._execute([w.row]))[0])
                except Exception as one:  # noqa: BLE001 - this message's own error, for its request
                    _settle(w.future, exc=one)
        else:
            for w, answer in zip(batch, answers, strict=True):
                _settle(w.future, answer)

    async def _execute(self, rows: list[InboundRow]) -> list[Outcome]:
        columns = [list(c) for c in zip(*(r.values() for r in rows), strict=True)]
        intake = self.intake
        direct = intake.direct is not None and intake.direct.take(len(rows))
        notify = not direct and intake.wake.inline()
        delay = DIRECT_PUBLISH_GRACE_SECONDS if direct else 0.0
        result = await intake.db.run(lambda conn: conn.fetch(SQL_ACCEPT_MANY, *columns, INBOUND_STREAM, notify, delay))
        if self.rows_seen is not None:
            self.rows_seen.observe(len(rows))
        answers = [Outcome(r["channel_ok"], r["stored"]) for r in result]
        if direct:  # before the answers are settled: the XADD is written ahead of the responses
            intake.direct.publish([row.event() for row, answer in zip(rows, answers, strict=True) if answer.stored])
        elif not notify and any(answer.stored for answer in answers):
            intake.wake.after_commit()
        return answers

    async def close(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders = []
        while self._queue:
            _settle(self._queue.popleft().future, exc=_stopping())


def _stopping() -> ServiceUnavailable:
    return ServiceUnavailable("the service is stopping; retry", headers={"Retry-After": "1"})


def _settle(future: asyncio.Future, result: Any = None, *, exc: BaseException | None = None) -> None:
    if future.done():
        return  # its request gave up (cancelled): nobody is waiting for the answer
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
