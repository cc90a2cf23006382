"""message.created on the live feed for every stored message, API or pipeline, at no cost to either path.

Every stored message already leaves chat as a `search.message.upserted` event (outbox, after commit); this
consumer group ("chat.live") of search.index.v1 in chat's worker copies each first upsert of a message (key
`chat.index:{id}:0`) to its tenant's live stream. Best effort like the feed: entries are acked as soon as read.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog
from redis.exceptions import ResponseError

from shared.events.envelope import Envelope
from shared.events.live import LIVE_MAXLEN, MESSAGE_CREATED, MessageCreated, live_fields, live_stream
from shared.events.search import INDEX_STREAM, MESSAGE_UPSERTED
from shared.events.worker import consumer_name

log = structlog.get_logger("live")
GROUP = "chat.live"


@dataclass(frozen=True, slots=True)
class LiveWrite:
    stream: str
    fields: dict[str, str]


def created_entry(envelope: Envelope) -> LiveWrite | None:
    """The live entry a search.index.v1 envelope stands for; None if it is not a new message."""
    if envelope.type != MESSAGE_UPSERTED or envelope.tenant_id is None:
        return None
    if not envelope.idempotency_key.endswith(":0") or envelope.payload.get("deleted"):
        return None  # a review correction, an edit or an erasure: not a new message
    payload = MessageCreated.model_validate(envelope.payload)
    return LiveWrite(live_stream(envelope.tenant_id), live_fields(MESSAGE_CREATED, payload))


class LiveMirror:
    def __init__(self, redis, *, block_ms: int = 2000, batch: int = 200) -> None:
        self.redis = redis
        self.block_ms = block_ms
        self.batch = batch
        self.consumer = consumer_name()

    async def run(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(INDEX_STREAM, GROUP, id="$", mkstream=True)
        while not stop.is_set():
            try:
                await self.once()
            except Exception as exc:  # noqa: BLE001 - the mirror outlives Redis outages
                log.warning("live_mirror_error", error=f"{type(exc).__name__}: {exc}"[:300])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2)

    async def once(self) -> int:
        """Read a batch, XADD its new messages and XACK it in one pipeline; returns how many entries were read."""
        answer = await self.redis.xreadgroup(
            GROUP, self.consumer, {INDEX_STREAM: ">"}, count=self.batch, block=self.block_ms
        )
        entries = answer[0][1] if answer else []
        if not entries:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for _entry_id, fields in entries:
            try:
                live = created_entry(Envelope.from_fields(fields))
            except ValueError:
                continue
            if live is not None:
                pipe.xadd(live.stream, live.fields, maxlen=LIVE_MAXLEN, approximate=True)
        pipe.xack(INDEX_STREAM, GROUP, *[entry_id for entry_id, _ in entries])
        await pipe.execute(raise_on_error=False)
        return len(entries)
