"""An assistant's tools in memory, valid while the assistant's `updated_at` is unchanged (every tool change bumps it),
so answering reads no extra row: the assistant row it already has says whether the cached list is current."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from services.chat.tools.models import AssistantTool

_MAX_ENTRIES = 1024


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the loop uses it, detached from any session."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    name: str
    description: str
    parameters: dict[str, Any]
    url: str | None
    method: str
    timeout_seconds: float
    secret_name: str | None

    @classmethod
    def of(cls, tool: AssistantTool) -> ToolSpec:
        return cls(
            id=tool.id,
            tenant_id=tool.tenant_id,
            type=tool.type,
            name=tool.name,
            description=tool.description or "",
            parameters=dict(tool.parameters or {}),
            url=tool.url,
            method=tool.method,
            timeout_seconds=tool.timeout_seconds,
            secret_name=tool.secret_name,
        )

    def openai(self) -> dict[str, Any]:
        """The function definition the model sees."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class _Entry:
    stamp: object
    tools: tuple[ToolSpec, ...]


class ToolCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[uuid.UUID, uuid.UUID], _Entry] = OrderedDict()

    def get(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, stamp: object) -> tuple[ToolSpec, ...] | None:
        entry = self._entries.get((tenant_id, assistant_id))
        if entry is None or entry.stamp != stamp:
            return None
        self._entries.move_to_end((tenant_id, assistant_id))
        return entry.tools

    def put(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, stamp: object, tools: tuple[ToolSpec, ...]) -> None:
        self._entries[(tenant_id, assistant_id)] = _Entry(stamp, tools)
        self._entries.move_to_end((tenant_id, assistant_id))
        if len(self._entries) > _MAX_ENTRIES:
            self._entries.popitem(last=False)


async def assistant_tools(runtime: Any, kit: Any, assistant: Any) -> tuple[ToolSpec, ...]:
    """The assistant's tools: from the cache while its `updated_at` holds, else one read."""
    if assistant is None:
        return ()
    found = kit.cache.get(assistant.tenant_id, assistant.id, assistant.updated_at)
    if found is not None:
        return found
    from services.chat.tools.repository import ToolRepository

    async with runtime.sessionmaker() as session:
        rows = await ToolRepository(session).list(assistant.tenant_id, assistant.id)
        found = tuple(ToolSpec.of(r) for r in rows)
    kit.cache.put(assistant.tenant_id, assistant.id, assistant.updated_at, found)
    return found
