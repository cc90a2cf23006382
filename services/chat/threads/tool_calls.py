"""The call records' storage interface (`tool` messages keyed by `call_key`): `MessageRepository` (ORM) and
`FastMessageRepository` (one autocommit statement each, services/chat/threads/fast_tool_calls.py) implement it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class NewToolCall:
    id: uuid.UUID
    key: str
    call: dict[str, Any]  # {name, arguments, status, call_id}


@dataclass(frozen=True)
class ToolCallRound:
    """A round's calls to store as `tool` messages in their order; a key stored already is left as it is."""

    tenant_id: uuid.UUID
    thread_id: uuid.UUID
    contact_id: uuid.UUID | None
    sector: str | None
    created_at: datetime
    calls: list[NewToolCall]


@dataclass(frozen=True)
class ToolCallRecord:
    """A stored call as an earlier attempt left it."""

    key: str
    result: str
    call: dict[str, Any]
    latency_ms: int | None


@dataclass(frozen=True)
class ToolCallDone:
    """A call's outcome; `only_if_status`: written only while the record still has that status (else whatever)."""

    tenant_id: uuid.UUID
    key: str
    result: str
    status: str
    latency_ms: int
    only_if_status: str | None = None


class ToolCallStore(Protocol):
    async def begin_tool_calls(self, calls: ToolCallRound) -> set[str]:
        """Stores the round's new calls; returns the keys it stored (the others were there already)."""
        ...

    async def tool_calls(self, tenant_id: uuid.UUID, keys: list[str]) -> list[ToolCallRecord]: ...

    async def finish_tool_call(self, done: ToolCallDone) -> None: ...
