"""The webhook hot path: authenticate, parse and store an inbound message with its event in one statement.

Every Twilio/Telegram message crosses this code, so it is written for CPU per request (docs/pipeline.md,
"The webhook intake"):

- **One round trip.** The inbound row, its `channels.inbound.v1` outbox row and the relay's NOTIFY are one
  statement on an asyncpg connection in autocommit: Postgres commits it before the answer leaves, so a 2xx still
  means durable, and a provider retry of the same message inserts nothing (`ON CONFLICT DO NOTHING` on
  `(channel_id, provider_message_id)`).
- **Concurrent messages share a statement (group commit).** Each API process runs at most
  CHANNELS_WEBHOOK_INSERT_STATEMENTS of these statements at a time; messages that arrive while they are all in
  flight wait and go together in the next one (up to CHANNELS_WEBHOOK_BATCH_MAX_ROWS rows, `InsertBatcher`). Nothing
  waits for a timer: a lone message is sent at once, so batches only form when statements are already queueing.
  Under a burst this turns N round trips, N commits (WAL flushes) and N statement executions into one, which is
  most of the Postgres backends' CPU and a fifth of the API's. Each row keeps its own answer: a provider retry, a
  stale channel or a row Postgres refuses (a NUL) affects that message only (a refused batch is re-run one row at
  a time). BATCH_MAX_ROWS=1 turns it off (one statement per message, any number at a time).
- **One relay wake-up per interval, not per message.** The NOTIFY only shortens the relay's wait (it polls every
  EVENTS_RELAY_INTERVAL_MS anyway). Under a burst, one per commit cost more than the messages: every NOTIFY
  takes Postgres' database-wide notify lock at commit, and signals the relay's listening backend, which wakes the
  relay, a cost that grew with the burst on the workers' side. So each API process notifies in the
  statement itself only if its last wake-up is at least CHANNELS_WEBHOOK_NOTIFY_INTERVAL_MS old; a message stored
  inside the interval is covered by one trailing `pg_notify` sent after its commit, at the interval's end
  (`RelayWake`). A lone message still wakes the relay at once; one in a burst waits at most the interval more.
- **The channel is cached, and the statement re-checks it.** Credentials are needed before anything is stored (the
  signature), so the channel row and its decrypted credentials are cached by id. The insert only happens if the
  channel still has the cached `updated_at` and is not deleted; any change (credentials rotated, settings, the
  assistant, a delete) bumps `updated_at`, so a stale entry stores nothing, is dropped, and the request is
  re-authenticated against the fresh row. A signature that fails against a cached entry is also re-checked once
  against the fresh row (a rotated token must not be refused for as long as the cache lives), at most once a second
  per channel (RECHECK_AFTER_SECONDS), so forged requests do not each cost a read. Unknown channels are never
  cached.
- Postgres unreachable or out of connections answers 503 with Retry-After (providers retry), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import orjson
from aiogram.types import Update
from prometheus_client import CollectorRegistry, Histogram
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from services.channels.base import Outbox
from services.channels.configs.models import Channel
from services.channels.webhooks.models import InboundMessage
from shared.crypto import SecretBox
from shared.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unprocessable, UnsupportedMediaType
from shared.events.channels import INBOUND_STREAM
from shared.events.envelope import Envelope
from shared.events.outbox import DIRECT_PUBLISH_GRACE_SECONDS, NOTIFY_CHANNEL
from shared.logging import get_logger

log = get_logger("channels.intake")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_MEDIA = 10
MAX_FORM_FIELDS = 200
CACHE_MAX = 4096
MAX_QUEUED = 10_000  # messages of one API process waiting for an intake statement (InsertBatcher)
# A signature that fails against a cached channel re-reads the row (the token may have been rotated), but at most
# once per this many seconds per channel: forged requests cannot turn into one database read each.
RECHECK_AFTER_SECONDS = 1.0
# Postgres refuses these text values (a NUL, or a character the encoding lacks): the client's error, not ours.
_UNSTORABLE_TEXT = {"22021", "22P05"}
_BROKEN = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)
# Postgres is gone, restarting, shutting down or out of connections: the provider should retry (503).
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


class TwilioParams(dict):
    """The form's fields. `getall` is how twilio's RequestValidator reads a multi-dict: on a plain dict it first
    tries `getall` and `getlist` and catches two AttributeErrors per field, per HMAC."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


@dataclass
class Incoming:
    provider_message_id: str
    kind: str  # text | audio | media | edited
    sender: str
    sender_name: str | None = None
    text: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    reply_to: str | None = None  # where answers go (Telegram chat id, WhatsApp address)


@dataclass(frozen=True, slots=True)
class CachedChannel:
    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    assistant_id: uuid.UUID | None
    settings: dict[str, Any]
    updated_at: datetime
    credentials: dict[str, str]
    validator: RequestValidator | None  # Twilio channels: one per auth token, reused
    fetched_at: float  # time.monotonic()


def _sql_accept() -> str:
    channel, inbound, outbox = Channel.__table__.fullname, InboundMessage.__table__.fullname, Outbox.__table__.fullname
    schema = Outbox.__table__.schema
    return f"""
WITH ch AS (
    SELECT id FROM {channel} WHERE id = $1 AND updated_at = $2 AND deleted_at IS NULL
), ins AS (
    INSERT INTO {inbound}
        (id, tenant_id, channel_id, provider_message_id, kind, sender, sender_name, text, media, received_at)
    SELECT $3, $4, ch.id, $5, $6, $7, $8, $9, $10::jsonb, $11 FROM ch
    ON CONFLICT (channel_id, provider_message_id) DO NOTHING
    RETURNING id
), ev AS (
    INSERT INTO {outbox} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT $12, $13, $13, $4, $14, $15::jsonb, $11, now() + make_interval(secs => $17::float8) FROM ins
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM ch) AS channel_ok,
       EXISTS (SELECT 1 FROM ins) AS stored,
       (SELECT count(pg_notify('{NOTIFY_CHANNEL}', '{schema}')) FROM ev WHERE $16::boolean) AS notified
"""


def _sql_accept_many() -> str:
    """`_sql_accept` for many messages at once: the same checks and inserts per row (the channels may differ), one
    answer row per message, in the order given (`n`), and at most one NOTIFY for the statement. $17: how far in the
    future the events' `created_at` is (DirectPublish: the grace; else 0, the relay's at once)."""
    channel, inbound, outbox = Channel.__table__.fullname, InboundMessage.__table__.fullname, Outbox.__table__.fullname
    schema = Outbox.__table__.schema
    return f"""
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::uuid[], $13::text[], $14::text[])
        WITH ORDINALITY AS t(channel_id, updated_at, inbound_id, tenant_id, provider_message_id, kind, sender,
                             sender_name, text, media, received_at, event_id, idempotency_key, payload, n)
), ch AS (
    SELECT input.* FROM input JOIN {channel} c
        ON c.id = input.channel_id AND c.updated_at = input.updated_at AND c.deleted_at IS NULL
), ins AS (
    INSERT INTO {inbound}
        (id, tenant_id, channel_id, provider_message_id, kind, sender, sender_name, text, media, received_at)
    SELECT inbound_id, tenant_id, channel_id, provider_message_id, kind, sender, sender_name, text, media::jsonb,
           received_at FROM ch ORDER BY n
    ON CONFLICT (channel_id, provider_message_id) DO NOTHING
    RETURNING id
), ev AS (
    INSERT INTO {outbox} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT ch.event_id, $15, $15, ch.tenant_id, ch.idempotency_key, ch.payload::jsonb, ch.received_at,
           now() + make_interval(secs => $17::float8)
    FROM ch JOIN ins ON ins.id = ch.inbound_id ORDER BY ch.n
    RETURNING id
)
SELECT input.n,
       ch.n IS NOT NULL AS channel_ok,
       ins.id IS NOT NULL AS stored,
       (SELECT count(pg_notify('{NOTIFY_CHANNEL}', '{schema}')) FROM ev WHERE $16::boolean) AS notified
FROM input LEFT JOIN ch ON ch.n = input.n LEFT JOIN ins ON ins.id = input.inbound_id
ORDER BY input.n
"""


_SQL_CHANNEL = (
    f"SELECT id, tenant_id, type, assistant_id, settings, updated_at, credentials_encrypted "
    f"FROM {Channel.__table__.fullname} WHERE id = $1 AND deleted_at IS NULL"
)


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


class DirectPublish:
    """The API publishes the `channels.inbound.v1` events of its intake statements itself, right after their commit,
    instead of waiting for the channels relay (NOTIFY, claim, XADD, mark: four round trips on the way to the
    answer, docs/benchmarks/pipeline.md). The relay stays the safety net, as for chat's own events
    (`shared.events.outbox.publish_committed`):

    - a statement taken for direct publishing writes its outbox rows with `created_at = now() + grace` and no NOTIFY,
      so the relay leaves them alone for the grace (DIRECT_PUBLISH_GRACE_SECONDS);
    - after the commit the rows are XADDed (one pipeline), then marked published (one UPDATE for every row marked
      meanwhile, by one marker task);
    - the API dying or Redis failing before the XADD leaves the rows to the relay, which publishes them once the grace
      is over: the message is late, never lost. Dying between the XADD and the mark publishes the event twice with
      the same envelope id and idempotency key; chat's consumer skips the second (`processed_event`).
    - after a failed XADD, direct publishing pauses for PAUSE_SECONDS (the relay's NOTIFY path at once instead of
      the grace for every message while Redis is down).

    It costs the API CPU per event (the XADD, its share of the mark), and under a burst the API's CPU is what bounds
    the webhooks accepted per second, while the relay runs in the worker at a lower priority and batches. So it is
    for quiet traffic, where the latency is: at most `per_second` messages per second per process are published this
    way (CHANNELS_WEBHOOK_DIRECT_PUBLISH_PER_SECOND, counted per message, a statement as a whole); beyond that the
    events go through the relay as before. 0 turns it off. (Counted per statement instead, a burst's statements of
    16 rows each made nearly every event direct, which cost API CPU and webhooks per second under a burst.)"""

    PAUSE_SECONDS = 1.0
    MARK_MAX = 1000  # ids per UPDATE

    def __init__(self, redis, pool: asyncpg.Pool, *, per_second: int, maxlen: int) -> None:
        self.redis = redis
        self.pool = pool
        self.per_second = per_second
        self.maxlen = maxlen
        self._window = -float("inf")
        self._used = 0
        self._paused_until = -float("inf")
        self._tasks: set[asyncio.Task] = set()
        self._unmarked: list[uuid.UUID] = []
        self._marker: asyncio.Task | None = None
        self._sql_mark = (
            f"UPDATE {Outbox.__table__.fullname} SET published_at = now() "
            "WHERE id = ANY($1::uuid[]) AND published_at IS NULL"
        )

    def take(self, messages: int = 1) -> bool:
        """Whether the next statement's events (`messages` of them) are published directly: only if they all fit in
        this second's allowance, which they then use up. A statement is direct or not as a whole."""
        if self.per_second <= 0:
            return False
        now = time.monotonic()
        if now < self._paused_until:
            return False
        if now - self._window >= 1.0:
            self._window, self._used = now, 0
        if self._used + messages > self.per_second:
            return False
        self._used += messages
        return True

    def publish(self, events: list[tuple[uuid.UUID, dict[str, str]]]) -> None:
        """XADD (event id, stream fields) of committed rows in the background: the webhook's answer does not wait."""
        if not events:
            return
        task = asyncio.get_running_loop().create_task(self._publish(events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, events: list[tuple[uuid.UUID, dict[str, str]]]) -> None:
        try:
            if len(events) == 1:
                await self.redis.xadd(INBOUND_STREAM, events[0][1], maxlen=self.maxlen, approximate=True)
            else:
                pipe = self.redis.pipeline(transaction=False)
                for _, fields in events:
                    pipe.xadd(INBOUND_STREAM, fields, maxlen=self.maxlen, approximate=True)
                await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - the relay publishes the rows after the grace
            self._paused_until = time.monotonic() + self.PAUSE_SECONDS
            log.warning("direct_publish_failed", step="xadd", events=len(events), error=type(exc).__name__)
            return
        self._unmarked.extend(event_id for event_id, _ in events)
        if self._marker is None or self._marker.done():
            self._marker = asyncio.get_running_loop().create_task(self._mark())

    async def _mark(self) -> None:
        while self._unmarked:
            ids, self._unmarked = self._unmarked[: self.MARK_MAX], self._unmarked[self.MARK_MAX :]
            try:
                async with self.pool.acquire(timeout=5) as conn:
                    await conn.execute(self._sql_mark, ids)
            except Exception as exc:  # noqa: BLE001 - published; the relay publishes them again (consumers dedupe)
                log.warning("direct_publish_failed", step="mark", events=len(ids), error=type(exc).__name__)

    async def close(self, timeout: float = 2.0) -> None:
        """Let XADDs and marks in flight finish (a shutdown should not leave published rows to be published again)."""
        pending = [*self._tasks]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        if self._marker is not None and not self._marker.done():
            await asyncio.wait([self._marker], timeout=timeout)
        for task in [*self._tasks, *([self._marker] if self._marker else [])]:
            if not task.done():
                task.cancel()


class _Waiting:
    __slots__ = ("args", "future")

    def __init__(self, args: tuple, future: asyncio.Future) -> None:
        self.args = args
        self.future = future


class InsertBatcher:
    """Group commit for the intake: at most `statements` accept statements of this process in flight; the messages
    that arrive meanwhile queue and go together, up to `max_rows` per statement, as soon as one finishes.

    A fixed set of sender tasks takes from one queue, so a request that gives up (its task cancelled) never strands
    the others, and a lone message is sent at the next turn of the event loop. Each message gets its own answer
    `(channel_ok, stored)`. A statement Postgres refuses (a NUL in one message's text) is re-run a row at a time, so
    only that message gets the error; the database being unavailable is every queued message's 503."""

    def __init__(self, intake: WebhookIntake, max_rows: int, statements: int, rows_seen: Histogram | None) -> None:
        self.intake = intake
        self.max_rows = max_rows
        self.statements = statements
        self.rows_seen = rows_seen
        self._queue: deque[_Waiting] = deque()
        self._ready = asyncio.Event()
        self._senders: list[asyncio.Task] = []
        self._sql = _sql_accept_many()

    async def run(self, args: tuple) -> tuple[bool, bool]:
        if not self._senders:
            loop = asyncio.get_running_loop()
            self._senders = [loop.create_task(self._send_forever()) for _ in range(self.statements)]
        if len(self._queue) >= MAX_QUEUED:  # Postgres is far behind: let the provider retry, keep memory bounded
            raise ServiceUnavailable("too many messages waiting to be stored; retry", headers={"Retry-After": "1"})
        waiting = _Waiting(args, asyncio.get_running_loop().create_future())
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
            answers = await self._execute([w.args for w in batch])
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
                    _settle(w.future, (await self._execute([w.args]))[0])
                except Exception as one:  # noqa: BLE001 - this message's own error, for its request
                    _settle(w.future, exc=one)
        else:
            for w, answer in zip(batch, answers, strict=True):
                _settle(w.future, answer)

    async def _execute(self, rows: list[tuple]) -> list[tuple[bool, bool]]:
        columns = [list(c) for c in zip(*rows, strict=True)]
        intake = self.intake
        direct = intake.direct is not None and intake.direct.take(len(rows))
        notify = not direct and intake.wake.inline()
        delay = DIRECT_PUBLISH_GRACE_SECONDS if direct else 0.0
        result = await intake._db(lambda conn: conn.fetch(self._sql, *columns, INBOUND_STREAM, notify, delay))
        if self.rows_seen is not None:
            self.rows_seen.observe(len(rows))
        answers = [(r["channel_ok"], r["stored"]) for r in result]
        if direct:  # before the answers are settled: the XADD is written ahead of the responses
            intake.direct.publish([_event(row) for row, (_, stored) in zip(rows, answers, strict=True) if stored])
        elif not notify and any(stored for _, stored in answers):
            intake.wake.after_commit()
        return answers

    async def close(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders = []
        while self._queue:
            _settle(self._queue.popleft().future, exc=_stopping())


def _event(row: tuple) -> tuple[uuid.UUID, dict[str, str]]:
    """The envelope of a stored row's outbox event (a batch row: `_insert`'s arguments without the stream), as the
    relay would publish it: the same id, idempotency key and payload."""
    fields = Envelope.raw_fields(
        id=row[11], type=INBOUND_STREAM, tenant_id=row[3], occurred_at=row[10], idempotency_key=row[12],
        payload_json=row[13],
    )  # fmt: skip
    return row[11], fields


def _discard(conn) -> None:
    """Close a pooled connection for good. When asyncpg has already seen it close (the backend was killed), the pool
    has taken it back by itself and detached our proxy, whose `terminate()` then raises: nothing is left to close."""
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


def _stopping() -> ServiceUnavailable:
    return ServiceUnavailable("the service is stopping; retry", headers={"Retry-After": "1"})


def _settle(future: asyncio.Future, result: Any = None, *, exc: BaseException | None = None) -> None:
    if future.done():
        return  # its request gave up (cancelled): nobody is waiting for the answer
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class WebhookIntake:
    """Shared by the ASGI fast path (webhooks/asgi.py) and the FastAPI routes (webhooks/router.py)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        box: SecretBox,
        public_base_url: str = "",
        notify_interval: float = 0.01,
        *,
        batch_max_rows: int = 64,
        insert_statements: int = 4,
        registry: CollectorRegistry | None = None,
        direct: DirectPublish | None = None,
    ) -> None:
        self.pool = pool
        self.direct = direct
        self.box = box
        self.public_base_url = public_base_url.rstrip("/")
        self.wake = RelayWake(pool, notify_interval, Outbox.__table__.schema)
        self._cache: dict[uuid.UUID, CachedChannel] = {}
        self._sql_accept = _sql_accept()
        rows = None
        if registry is not None and batch_max_rows > 1:
            rows = Histogram(
                "channels_webhook_insert_rows",
                "Messages stored per intake statement (group commit: webhooks/intake.py)",
                registry=registry,
                buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            )
        self.batcher = InsertBatcher(self, batch_max_rows, insert_statements, rows) if batch_max_rows > 1 else None

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
        if self.direct is not None:
            await self.direct.close()
        await self.wake.close()

    # ---- channels -------------------------------------------------------------------------------------------

    async def _fetch(self, cid: uuid.UUID) -> CachedChannel | None:
        row = await self._db(lambda conn: conn.fetchrow(_SQL_CHANNEL, cid))
        if row is None:
            self._cache.pop(cid, None)
            return None
        creds = orjson.loads(self.box.decrypt(row["credentials_encrypted"]))
        settings = row["settings"]
        entry = CachedChannel(
            id=row["id"],
            tenant_id=row["tenant_id"],
            type=row["type"],
            assistant_id=row["assistant_id"],
            settings=orjson.loads(settings) if isinstance(settings, str) else (settings or {}),
            updated_at=row["updated_at"],
            credentials=creds,
            validator=RequestValidator(creds["auth_token"]) if row["type"] == "whatsapp_twilio" else None,
            fetched_at=time.monotonic(),
        )
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[cid] = entry
        return entry

    async def channel(self, channel_id: str, kind: str, *, fresh: bool = False) -> tuple[CachedChannel, bool]:
        """The channel named in the URL, and whether a re-read could change it (a cache entry old enough to be
        re-checked, RECHECK_AFTER_SECONDS). 404 for anything else."""
        try:
            cid = uuid.UUID(channel_id)
        except ValueError:
            raise NotFound("unknown channel") from None
        entry = None if fresh else self._cache.get(cid)
        recheckable = entry is not None and time.monotonic() - entry.fetched_at > RECHECK_AFTER_SECONDS
        if entry is None:
            entry = await self._fetch(cid)
        if entry is None or entry.type != kind:
            raise NotFound("unknown channel")
        return entry, recheckable

    # ---- storing --------------------------------------------------------------------------------------------

    async def _db(self, fn):
        """Run `fn(conn)` on a pooled connection. A connection that broke while idle in the pool (Postgres restarted)
        is retried once on a new one: every statement here is idempotent (the insert is ON CONFLICT DO NOTHING, so
        a statement that committed before its answer was lost reads as a provider retry). What still fails is a
        503 with Retry-After (the provider retries), never a 500."""
        for attempt in (1, 2):
            try:
                # A free connection is taken at once; asyncpg's acquire timeout wraps the wait in a task, which
                # costs more than the rest of the acquire, so it is paid only when the pool is exhausted.
                # (Connecting is bounded by the pool's own connect timeout, app.py.)
                if self.pool.get_idle_size():
                    conn = await self.pool.acquire()
                else:
                    conn = await self.pool.acquire(timeout=5)
            except (OSError, TimeoutError, asyncpg.InterfaceError, *_UNAVAILABLE):
                conn = None
            if conn is not None:
                try:
                    return await fn(conn)
                except asyncpg.PostgresError as exc:
                    if getattr(exc, "sqlstate", None) in _UNSTORABLE_TEXT:
                        raise Unprocessable("the text has a character that cannot be stored (a NUL, \\u0000)") from None
                    if not isinstance(exc, _UNAVAILABLE):
                        raise
                    _discard(conn)
                except _BROKEN:
                    # e.g. a backend killed while idle: asyncpg's protocol is left mid-state. Never pool it again.
                    _discard(conn)
                finally:
                    await self.pool.release(conn)
            if attempt == 2:
                raise ServiceUnavailable("the database is unavailable; retry", headers={"Retry-After": "5"})
        raise AssertionError("unreachable")

    async def _insert(self, ch: CachedChannel, msg: Incoming) -> tuple[bool, uuid.UUID | None]:
        inbound_id, event_id = uuid.uuid4(), uuid.uuid4()
        received_at = datetime.now(UTC)
        media = orjson.dumps(msg.media).decode()
        key = f"inbound:{ch.id}:{msg.provider_message_id}"
        payload = orjson.dumps(
            {
                "inbound_id": str(inbound_id),
                "channel_id": str(ch.id),
                "channel_type": ch.type,
                "assistant_id": str(ch.assistant_id) if ch.assistant_id else None,
                "provider_message_id": msg.provider_message_id,
                "kind": msg.kind,
                "sender": msg.sender,
                "sender_name": msg.sender_name,
                "reply_to": msg.reply_to or msg.sender,
                "text": msg.text,
                "media": msg.media,
                "channel_settings": ch.settings,
                "received_at": received_at.isoformat(),
            }
        ).decode()
        args = (
            ch.id, ch.updated_at, inbound_id, ch.tenant_id, msg.provider_message_id, msg.kind, msg.sender,
            msg.sender_name, msg.text, media, received_at, event_id, INBOUND_STREAM, key, payload,
        )  # fmt: skip
        if self.batcher is not None:
            channel_ok, stored = await self.batcher.run((*args[:12], *args[13:]))  # the stream is the statement's
            return channel_ok, (inbound_id if stored else None)
        direct = self.direct is not None and self.direct.take()
        notify = not direct and self.wake.inline()
        delay = DIRECT_PUBLISH_GRACE_SECONDS if direct else 0.0
        row = await self._db(lambda conn: conn.fetchrow(self._sql_accept, *args, notify, delay))
        if row["stored"] and direct:
            self.direct.publish([_event((*args[:12], *args[13:]))])
        elif row["stored"] and not notify:
            self.wake.after_commit()
        return bool(row["channel_ok"]), (inbound_id if row["stored"] else None)

    async def accept(self, ch: CachedChannel, msg: Incoming, recheck) -> uuid.UUID | None:
        """Store once; None for a provider retry. `recheck(fresh_channel)` re-authenticates after a cache miss."""
        ok, inbound_id = await self._insert(ch, msg)
        if ok:
            return inbound_id
        # The channel changed or went away since it was cached: authenticate against the row as it is now.
        fresh, _ = await self.channel(str(ch.id), ch.type, fresh=True)
        recheck(fresh)
        ok, inbound_id = await self._insert(fresh, msg)
        if not ok:  # changed again in between: extremely unlikely; the provider retries
            raise ServiceUnavailable("the channel is being updated; retry", headers={"Retry-After": "1"})
        return inbound_id

    # ---- Twilio ---------------------------------------------------------------------------------------------

    def public_url(self, path: str, query: str) -> str:
        """The URL Twilio called (and signed), on CHANNELS_PUBLIC_BASE_URL: never on the request's Host, which the
        caller chooses. Without a configured base no Twilio signature can be checked, so every one is refused."""
        if not self.public_base_url:
            raise Forbidden("CHANNELS_PUBLIC_BASE_URL is not configured: Twilio signatures cannot be checked")
        return self.public_base_url + path + ("?" + query if query else "")

    @staticmethod
    def twilio_params(content_type: str, body: bytes) -> dict[str, str]:
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise UnsupportedMediaType("Twilio webhooks are application/x-www-form-urlencoded")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("malformed form body") from None
        if len(pairs) > MAX_FORM_FIELDS:
            raise BadRequest("too many form fields")
        return TwilioParams(pairs)

    @staticmethod
    def _twilio_ok(ch: CachedChannel, url: str, params: dict[str, str], signature: str) -> bool:
        """`RequestValidator.validate` computes the HMAC of the URL both with and without its port, every time. The
        URL as we rebuilt it is always one of those two forms, so a genuine request is accepted after one HMAC of
        it; anything else gets the library's full check. The same requests pass as with `validate` alone."""
        if not signature or ch.validator is None:
            return False
        if hmac.compare_digest(ch.validator.compute_signature(url, params).encode(), signature.encode()):
            return True
        return ch.validator.validate(url, params, signature)

    async def twilio_channel(self, channel_id: str, url: str, params: dict[str, str], signature: str) -> CachedChannel:
        """The channel, once the signature holds for it (re-checked against the fresh row on a cached miss)."""
        ch, recheckable = await self.channel(channel_id, "whatsapp_twilio")
        if not self._twilio_ok(ch, url, params, signature):
            if recheckable:
                ch, _ = await self.channel(channel_id, "whatsapp_twilio", fresh=True)
            if not recheckable or not self._twilio_ok(ch, url, params, signature):
                raise Forbidden("invalid Twilio signature")
        return ch

    async def twilio_message(
        self, channel_id: str, headers: Mapping[str, str], path: str, query: str, body: bytes
    ) -> uuid.UUID | None:
        """A signed WhatsApp message: stored once. 4xx for anything not authentic or not well formed."""
        params = self.twilio_params(headers.get("content-type", ""), body)
        url = self.public_url(path, query)
        signature = headers.get("x-twilio-signature", "")
        ch = await self.twilio_channel(channel_id, url, params, signature)
        msg = twilio_incoming(params)

        def recheck(fresh: CachedChannel) -> None:
            if not self._twilio_ok(fresh, url, params, signature):
                raise Forbidden("invalid Twilio signature")

        return await self.accept(ch, msg, recheck)

    # ---- Telegram -------------------------------------------------------------------------------------------

    @staticmethod
    def _telegram_ok(ch: CachedChannel, given: str) -> bool:
        return hmac.compare_digest(given.encode(), ch.credentials.get("webhook_secret", "").encode())

    async def telegram_update(self, channel_id: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        ch, recheckable = await self.channel(channel_id, "telegram")
        given = headers.get("x-telegram-bot-api-secret-token", "")
        if not self._telegram_ok(ch, given):
            if recheckable:
                ch, _ = await self.channel(channel_id, "telegram", fresh=True)
            if not recheckable or not self._telegram_ok(ch, given):
                raise Forbidden("invalid or missing X-Telegram-Bot-Api-Secret-Token")
        try:
            update = Update.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError, TypeError):
            raise BadRequest("body is not a Telegram Update") from None
        incoming = telegram_incoming(update)
        if incoming is None:
            return {"ok": True, "handled": False}

        def recheck(fresh: CachedChannel) -> None:
            if not self._telegram_ok(fresh, given):
                raise Forbidden("invalid or missing X-Telegram-Bot-Api-Secret-Token")

        inbound_id = await self.accept(ch, incoming, recheck)
        return {"ok": True, "handled": True, "duplicate": inbound_id is None}


def _short(value: str | None, limit: int = 200) -> str | None:
    return value[:limit] if value else None


def twilio_incoming(params: dict[str, str]) -> Incoming:
    sid = params.get("MessageSid") or params.get("SmsMessageSid")
    sender = params.get("From")
    if not sid or not sender:
        raise BadRequest("MessageSid and From are required")
    try:
        num_media = min(int(params.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise BadRequest("NumMedia must be a number") from None
    media = [
        {"url": params[f"MediaUrl{i}"], "content_type": params.get(f"MediaContentType{i}", "")}
        for i in range(num_media)
        if params.get(f"MediaUrl{i}")
    ]
    is_audio = any(m["content_type"].startswith("audio/") for m in media)
    msg = Incoming(
        provider_message_id=sid[:200],
        kind="audio" if is_audio else "media" if media else "text",
        sender=sender[:200],
        sender_name=_short(params.get("ProfileName")),
        text=params.get("Body") or None,
        media=media,
        reply_to=sender[:200],
    )
    if msg.text is None and not media:
        raise BadRequest("message has neither Body nor media")
    return msg


def telegram_incoming(update: Update) -> Incoming | None:
    """What we handle: text, voice, audio, and edited text. Anything else is acknowledged and dropped."""
    message = update.message or update.edited_message
    if message is None or message.chat is None:
        return None
    user = message.from_user
    name = " ".join(p for p in (user.first_name, user.last_name) if p) if user else None
    base = {
        "provider_message_id": str(update.update_id),
        "sender": str(user.id if user else message.chat.id),
        "sender_name": _short(name),
        "reply_to": str(message.chat.id),
    }
    if update.edited_message is not None:
        if not message.text:
            return None
        return Incoming(kind="edited", text=message.text, **base)
    if message.voice or message.audio:
        f = message.voice or message.audio
        media = [
            {
                "file_id": f.file_id,
                "content_type": f.mime_type or "audio/ogg",
                "duration": f.duration,
                "file_size": f.file_size,
            }
        ]
        return Incoming(kind="audio", text=message.caption, media=media, **base)
    if message.text:
        return Incoming(kind="text", text=message.text, **base)
    return None


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default (advisory unlock, CLOSE ALL, UNLISTEN *, RESET ALL) is one more
    round trip per webhook; this pool only ever runs single autocommit statements (no session state to undo), and
    asyncpg still rolls back a transaction left open before calling this."""


def asyncpg_dsn(database_url: str) -> str:
    """DATABASE_URL is SQLAlchemy's (postgresql+asyncpg://...); asyncpg takes the plain libpq form."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
