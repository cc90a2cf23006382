"""Tool calls stored on the thread as `tool` messages, each recorded and committed BEFORE it runs: the record is the
idempotency point. A retried answer (a worker killed mid-loop, the burst redelivered) finds its calls by key and
re-uses their outcome; a call recorded as started with no outcome is never re-run (its outcome is unknown)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from services.chat.runtime import ChatRuntime
from services.chat.threads.models import Message
from services.chat.tools.runner import CallOutcome
from shared.db import utcnow

STARTED = "started"
UNKNOWN_OUTCOME = "this call was started by an earlier attempt that stopped before it finished; its outcome is unknown"


@dataclass(frozen=True)
class CallScope:
    """The conversation the calls belong to and the answer they serve (`base`: the burst's key or the user message)."""

    tenant_id: uuid.UUID
    thread_id: uuid.UUID
    contact_id: uuid.UUID | None
    sector: str | None
    base: str

    def key(self, round_no: int, index: int) -> str:
        return hashlib.sha256(f"tool:{self.base}:{round_no}:{index}".encode()).hexdigest()[:64]


@dataclass(frozen=True)
class NewCall:
    key: str
    call_id: str
    name: str
    arguments: Any


class CallRecords:
    def __init__(self, runtime: ChatRuntime) -> None:
        self.rt = runtime

    async def begin(self, scope: CallScope, calls: list[NewCall]) -> dict[str, CallOutcome]:
        """Records a round's calls as started, in their order, in one committed statement. Returns the calls an
        earlier attempt recorded already (by key) with the outcome to re-use; the others may go ahead."""
        now = utcnow()
        rows = [
            {
                "id": uuid.uuid4(),
                "tenant_id": scope.tenant_id,
                "thread_id": scope.thread_id,
                "contact_id": scope.contact_id,
                "role": "tool",
                "content": "",
                "sector": scope.sector,
                "incomplete": False,
                "created_at": now,
                "call_key": c.key,
                "tool_call": {"name": c.name, "arguments": c.arguments, "status": STARTED, "call_id": c.call_id},
            }
            for c in calls
        ]
        stmt = (
            insert(Message)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["tenant_id", "call_key"], index_where=Message.call_key.isnot(None))
            .returning(Message.call_key)
        )
        async with self.rt.sessionmaker() as session, session.begin():
            fresh = set((await session.execute(stmt)).scalars())
            seen = [c.key for c in calls if c.key not in fresh]
            prior = (
                (
                    await session.execute(
                        select(Message.call_key, Message.content, Message.tool_call, Message.latency_ms).where(
                            Message.tenant_id == scope.tenant_id, Message.call_key.in_(seen)
                        )
                    )
                ).all()
                if seen
                else []
            )
        found: dict[str, CallOutcome] = {}
        for row in prior:
            status = (row.tool_call or {}).get("status")
            if status == STARTED or not status:
                found[row.call_key] = CallOutcome("error", UNKNOWN_OUTCOME)
                call = next(c for c in calls if c.key == row.call_key)
                await self.finish(scope, call, found[row.call_key], only_started=True)
            else:
                found[row.call_key] = CallOutcome(status, row.content, row.latency_ms or 0)
        return found

    async def finish(self, scope: CallScope, call: NewCall, outcome: CallOutcome, *, only_started: bool = False):
        """The outcome on the record; `only_started`: unless an outcome is there already."""
        done = {"name": call.name, "arguments": call.arguments, "status": outcome.status, "call_id": call.call_id}
        stmt = update(Message).where(Message.tenant_id == scope.tenant_id, Message.call_key == call.key)
        if only_started:
            stmt = stmt.where(Message.tool_call["status"].astext == STARTED)
        async with self.rt.sessionmaker() as session, session.begin():
            await session.execute(stmt.values(content=outcome.result, tool_call=done, latency_ms=outcome.latency_ms))
