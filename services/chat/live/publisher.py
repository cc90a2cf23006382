"""Write the console's live feed (shared/events/live.py): directly, or once a session's transaction commits."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import structlog
from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.live import LIVE_MAXLEN, THREAD_UPDATED, ThreadUpdated, live_fields, live_stream

log = structlog.get_logger("live")
_pending: set[asyncio.Task] = set()  # after-commit publishes in flight (a task nobody holds may be collected)


async def publish(redis, tenant_id: uuid.UUID, type_: str, payload: BaseModel) -> None:
    """XADD to the tenant's live stream; never raises (the feed is best effort, the data is committed)."""
    try:
        await redis.xadd(live_stream(tenant_id), live_fields(type_, payload), maxlen=LIVE_MAXLEN, approximate=True)
    except Exception as exc:  # noqa: BLE001 - a console refetches; the request must not fail for its feed
        log.warning("live_publish_failed", type=type_, error=f"{type(exc).__name__}: {exc}"[:300])


def publish_soon(redis, tenant_id: uuid.UUID, type_: str, payloads: list[BaseModel]) -> None:
    """Publish in the background (one pipeline): a path that must not wait for the feed (the tool loop) goes on."""

    async def send() -> None:
        try:
            pipe = redis.pipeline(transaction=False)
            for payload in payloads:
                pipe.xadd(live_stream(tenant_id), live_fields(type_, payload), maxlen=LIVE_MAXLEN, approximate=True)
            await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - best effort, like `publish`
            log.warning("live_publish_failed", type=type_, error=f"{type(exc).__name__}: {exc}"[:300])

    task = asyncio.get_running_loop().create_task(send())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def publish_after_commit(session: AsyncSession, redis, tenant_id: uuid.UUID, type_: str, payload: BaseModel) -> None:
    """Publish once the session's transaction commits (nothing if it rolls back): a console that refetches on the
    event then sees the change."""

    def on_commit(_session) -> None:
        task = asyncio.get_running_loop().create_task(publish(redis, tenant_id, type_, payload))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    event.listen(session.sync_session, "after_commit", on_commit, once=True)


class LivePublisher:
    """What a request handler writes to its tenant's live feed, after its transaction commits."""

    def __init__(self, redis) -> None:
        self.redis = redis

    def thread_updated(self, session: AsyncSession, thread) -> None:
        payload = ThreadUpdated(thread_id=thread.id, status=thread.status, deleted=thread.deleted_at is not None)
        publish_after_commit(session, self.redis, thread.tenant_id, THREAD_UPDATED, payload)

    def thread_deleted(self, session: AsyncSession, tenant_id: uuid.UUID, thread_id: uuid.UUID) -> None:
        publish_after_commit(
            session, self.redis, tenant_id, THREAD_UPDATED, ThreadUpdated(thread_id=thread_id, deleted=True)
        )


def get_live(request: Request) -> LivePublisher:
    return LivePublisher(request.app.state.redis)


LiveDep = Annotated[LivePublisher, Depends(get_live)]
