"""`ToolCallStore` on an asyncpg connection (FastMessageRepository's part for the call records): each write one
autocommit statement, so a record is durable the moment it returns, with no BEGIN/COMMIT round trips."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import orjson

from services.chat.threads.models import Message
from services.chat.threads.tool_calls import ToolCallDone, ToolCallRecord, ToolCallRound
from shared.events.raw import NamedStatement

MESSAGE = Message.__table__.fullname
SQL_BEGIN = NamedStatement.compile(f"""
INSERT INTO {MESSAGE} (id, tenant_id, thread_id, contact_id, role, content, sector, incomplete, created_at, call_key,
                       tool_call)
SELECT c.id, :tenant_id, :thread_id, :contact_id, 'tool', '', :sector, false, :created_at, c.key, c.call::jsonb
FROM unnest(:ids::uuid[], :keys::text[], :call_json::text[]) WITH ORDINALITY AS c(id, key, call, n)
ORDER BY c.n
ON CONFLICT (tenant_id, call_key) WHERE call_key IS NOT NULL DO NOTHING
RETURNING call_key
""")
SQL_RECORDS = NamedStatement.compile(f"""
SELECT call_key, content, tool_call, latency_ms FROM {MESSAGE}
WHERE tenant_id = :tenant_id AND call_key = ANY(:keys::text[])
""")
SQL_FINISH = NamedStatement.compile(f"""
UPDATE {MESSAGE}
SET content = :result, latency_ms = :latency_ms, tool_call = tool_call || jsonb_build_object('status', :status::text)
WHERE tenant_id = :tenant_id AND call_key = :key
  AND (:only_if_status::text IS NULL OR tool_call->>'status' = :only_if_status::text)
""")


@dataclass(frozen=True)
class RoundArrays:
    """SQL_BEGIN's per-call parameters as parallel arrays (one unnest); the rest come from the ToolCallRound."""

    ids: list[uuid.UUID]
    keys: list[str]
    call_json: list[str]


@dataclass(frozen=True)
class RecordKeys:
    tenant_id: uuid.UUID
    keys: list[str]


class FastToolCalls:
    """The `ToolCallStore` methods of `FastMessageRepository`."""

    conn: asyncpg.Connection

    async def begin_tool_calls(self, calls: ToolCallRound) -> set[str]:
        arrays = RoundArrays(
            ids=[c.id for c in calls.calls],
            keys=[c.key for c in calls.calls],
            call_json=[orjson.dumps(c.call).decode() for c in calls.calls],
        )
        return {r["call_key"] for r in await self.conn.fetch(SQL_BEGIN.sql, *SQL_BEGIN.args(arrays, calls))}

    async def tool_calls(self, tenant_id: uuid.UUID, keys: list[str]) -> list[ToolCallRecord]:
        rows = await self.conn.fetch(SQL_RECORDS.sql, *SQL_RECORDS.args(RecordKeys(tenant_id, keys)))
        return [ToolCallRecord(r["call_key"], r["content"], _json(r["tool_call"]), r["latency_ms"]) for r in rows]

    async def finish_tool_call(self, done: ToolCallDone) -> None:
        await self.conn.execute(SQL_FINISH.sql, *SQL_FINISH.args(done))


def _json(value) -> dict:
    """jsonb comes back decoded on SQLAlchemy's connections, as text on a bare asyncpg one."""
    return (orjson.loads(value) if isinstance(value, str | bytes) else value) or {}
