"""Tool calls stored on the thread as `tool` messages, each recorded and committed BEFORE it runs: the record is the
idempotency point. A retried answer (a worker killed mid-loop, the burst redelivered) finds its calls by key and
re-uses their outcome; a call recorded as started with no outcome is never re-run (its outcome is unknown)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.chat.runtime import ChatRuntime
from services.chat.threads.models import Message
from services.chat.tools.runner import CallOutcome
from shared.db import utcnow
from shared.events.raw import NamedStatement, raw_connection

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


MESSAGE = Message.__table__.fullname
# A round's calls as `tool` messages in their order, each unless its key is recorded already (one statement).
SQL_BEGIN = NamedStatement.compile(f"""
INSERT INTO {MESSAGE} (id, tenant_id, thread_id, contact_id, role, content, sector, incomplete, created_at, call_key,
                       tool_call)
SELECT c.id, :tenant_id, :thread_id, :contact_id, 'tool', '', :sector, false, :created_at, c.key, c.call::jsonb
FROM unnest(:ids::uuid[], :keys::text[], :calls::text[]) WITH ORDINALITY AS c(id, key, call, n)
ORDER BY c.n
ON CONFLICT (tenant_id, call_key) WHERE call_key IS NOT NULL DO NOTHING
RETURNING call_key
""")
SQL_PRIOR = NamedStatement.compile(f"""
SELECT call_key, content, tool_call, latency_ms FROM {MESSAGE}
WHERE tenant_id = :tenant_id AND call_key = ANY(:keys::text[])
""")
SQL_FINISH = NamedStatement.compile(f"""
UPDATE {MESSAGE}
SET content = :result, latency_ms = :latency_ms, tool_call = tool_call || jsonb_build_object('status', :status::text)
WHERE tenant_id = :tenant_id AND call_key = :key AND (NOT :only_started OR tool_call->>'status' = '{STARTED}')
""")


@dataclass(frozen=True)
class RoundRows:
    tenant_id: uuid.UUID
    thread_id: uuid.UUID
    contact_id: uuid.UUID | None
    sector: str | None
    created_at: datetime
    ids: list[uuid.UUID]
    keys: list[str]
    calls: list[str]


@dataclass(frozen=True)
class PriorKeys:
    tenant_id: uuid.UUID
    keys: list[str]


@dataclass(frozen=True)
class Finished:
    tenant_id: uuid.UUID
    key: str
    result: str
    status: str
    latency_ms: int
    only_started: bool


class CallRecords:
    """One autocommit statement per write (raw asyncpg, services/chat/threads/fast_repository.py's way): the record
    is durable the moment the statement returns, with no BEGIN/COMMIT round trips on the loop's path."""

    def __init__(self, runtime: ChatRuntime) -> None:
        self.rt = runtime

    async def begin(self, scope: CallScope, calls: list[NewCall]) -> dict[str, CallOutcome]:
        """Records a round's calls as started. Returns the calls an earlier attempt recorded already (by key) with
        the outcome to re-use; the others may go ahead."""
        rows = RoundRows(
            tenant_id=scope.tenant_id,
            thread_id=scope.thread_id,
            contact_id=scope.contact_id,
            sector=scope.sector,
            created_at=utcnow(),
            ids=[uuid.uuid4() for _ in calls],
            keys=[c.key for c in calls],
            calls=[
                orjson.dumps(
                    {"name": c.name, "arguments": c.arguments, "status": STARTED, "call_id": c.call_id}
                ).decode()
                for c in calls
            ],
        )
        async with raw_connection(self.rt.sessionmaker, autocommit=True) as conn:
            fresh = {r["call_key"] for r in await conn.fetch(SQL_BEGIN.sql, *SQL_BEGIN.args(rows))}
            seen = [k for k in rows.keys if k not in fresh]
            asked = PriorKeys(scope.tenant_id, seen)
            prior = await conn.fetch(SQL_PRIOR.sql, *SQL_PRIOR.args(asked)) if seen else []
        found: dict[str, CallOutcome] = {}
        for row in prior:
            call = row["tool_call"]
            call = orjson.loads(call) if isinstance(call, str | bytes) else call or {}
            status = call.get("status")
            if status == STARTED or not status:
                found[row["call_key"]] = CallOutcome("error", UNKNOWN_OUTCOME)
                await self.finish(scope, row["call_key"], found[row["call_key"]], only_started=True)
            else:
                found[row["call_key"]] = CallOutcome(status, row["content"], row["latency_ms"] or 0)
        return found

    async def finish(self, scope: CallScope, key: str, outcome: CallOutcome, *, only_started: bool = False) -> None:
        """The outcome on the record; `only_started`: unless an outcome is there already."""
        done = Finished(scope.tenant_id, key, outcome.result, outcome.status, outcome.latency_ms, only_started)
        async with raw_connection(self.rt.sessionmaker, autocommit=True) as conn:
            await conn.execute(SQL_FINISH.sql, *SQL_FINISH.args(done))
