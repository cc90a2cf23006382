"""Tool calls stored on the thread as `tool` messages, each recorded and committed BEFORE it runs: the record is the
idempotency point. A retried answer (a worker killed mid-loop, the burst redelivered) finds its calls by key and
re-uses their outcome; a call recorded as started with no outcome is never re-run (its outcome is unknown)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from services.chat.live.publisher import publish_soon
from services.chat.runtime import ChatRuntime
from services.chat.threads.stores import StoreOpener, fast_store
from services.chat.threads.tool_calls import NewToolCall, ToolCallDone, ToolCallRecord, ToolCallRound
from services.chat.tools.runner import CallOutcome
from shared.db import utcnow
from shared.events.live import MESSAGE_CREATED, MessageCreated

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
    """The records through the message store (services/chat/threads/stores.py). The loop's choice is the fast twin:
    each write one autocommit statement, durable the moment it returns, no BEGIN/COMMIT round trips per round."""

    def __init__(self, runtime: ChatRuntime, open_store: StoreOpener = fast_store) -> None:
        self.rt = runtime
        self.open_store = open_store

    async def begin(self, scope: CallScope, calls: list[NewCall]) -> dict[str, CallOutcome]:
        """Records a round's calls as started. Returns the calls an earlier attempt recorded already (by key) with
        the outcome to re-use; the others may go ahead."""
        new = [
            NewToolCall(
                id=uuid.uuid4(),
                key=c.key,
                call={"name": c.name, "arguments": c.arguments, "status": STARTED, "call_id": c.call_id},
            )
            for c in calls
        ]
        round_ = ToolCallRound(scope.tenant_id, scope.thread_id, scope.contact_id, scope.sector, utcnow(), new)
        async with self.open_store(self.rt.sessionmaker) as store:
            fresh = await store.begin_tool_calls(round_)
            seen = [c.key for c in new if c.key not in fresh]
            prior = await store.tool_calls(scope.tenant_id, seen) if seen else []
        if fresh:
            self._announce(round_, [c for c in new if c.key in fresh])
        found: dict[str, CallOutcome] = {}
        for record in prior:
            found[record.key] = await self._reused(scope, record)
        return found

    async def finish(self, scope: CallScope, key: str, outcome: CallOutcome) -> None:
        await self._write(ToolCallDone(scope.tenant_id, key, outcome.result, outcome.status, outcome.latency_ms))

    async def _reused(self, scope: CallScope, record: ToolCallRecord) -> CallOutcome:
        """An earlier attempt's outcome; one still `started` is unknown (the record says so unless it has one now)."""
        status = record.call.get("status")
        if status and status != STARTED:
            return CallOutcome(status, record.result, record.latency_ms or 0)
        unknown = CallOutcome("error", UNKNOWN_OUTCOME)
        await self._write(ToolCallDone(scope.tenant_id, record.key, unknown.result, unknown.status, 0, STARTED))
        return unknown

    async def _write(self, done: ToolCallDone) -> None:
        async with self.open_store(self.rt.sessionmaker) as store:
            await store.finish_tool_call(done)

    def _announce(self, round_: ToolCallRound, calls: list[NewToolCall]) -> None:
        """message.created on the console's live feed for each new record, sent in the background (tool messages
        emit no search.index.v1, which is how the others reach the feed: services/chat/live/mirror.py)."""
        created = [
            MessageCreated(
                message_id=c.id,
                thread_id=round_.thread_id,
                contact_id=round_.contact_id,
                role="tool",
                sector=round_.sector,
                created_at=round_.created_at,
            )
            for c in calls
        ]
        publish_soon(self.rt.state.redis, round_.tenant_id, MESSAGE_CREATED, created)
