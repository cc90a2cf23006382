"""The admin's view of live buffers, and force flush."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.buffers.schemas import BufferedMessage, BufferRead, FlushAccepted
from services.chat.buffers.store import BufferStore, BufferView
from services.chat.threads.repository import MessageRepository
from shared.errors import NotFound


class BufferNotFound(NotFound):
    code = "buffer_not_found"


def _ts(value: str) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


class BufferService:
    def __init__(self, session: AsyncSession, store: BufferStore) -> None:
        self.session = session
        self.store = store

    async def list(self, tenant_id: uuid.UUID, limit: int) -> list[BufferRead]:
        views = await self.store.list(tenant_id, limit)
        ids = {uuid.UUID(str(i["message_id"])) for v in views for i in v.items}
        rows = {m.id: m for m in await MessageRepository(self.session).by_ids(tenant_id, ids)} if ids else {}
        return [self._read(v, rows) for v in views]

    def _read(self, view: BufferView, rows: dict) -> BufferRead:
        messages = []
        for item in view.items:
            m = rows.get(uuid.UUID(str(item["message_id"])))
            if m is not None:
                messages.append(BufferedMessage(id=m.id, content=m.content, created_at=m.created_at))
        due = float(view.meta.get("due_at", time.time()))
        return BufferRead(
            key=view.key,
            thread_id=uuid.UUID(view.meta["thread_id"]),
            contact=view.meta.get("contact", ""),
            channel=view.meta.get("channel", ""),
            messages=messages,
            first_at=_ts(view.meta.get("first_at", due)),
            due_at=_ts(str(due)),
            seconds_left=max(0.0, round(due - time.time(), 2)),
        )

    async def flush(self, tenant_id: uuid.UUID, key: str) -> FlushAccepted:
        # The tenant is the key's prefix: another tenant's key is simply not found.
        if not key.startswith(f"{tenant_id}:") or not await self.store.flush_now(key):
            raise BufferNotFound(f"no live buffer {key[:100]}")
        return FlushAccepted(key=key)
