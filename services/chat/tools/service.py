"""Tools of an assistant: create/list/read/change/delete, with the schema and the URL checked when saved."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.service import AssistantService
from services.chat.tools.cache import ToolSpec
from services.chat.tools.errors import ToolInvalid, ToolNameTaken, ToolNotFound
from services.chat.tools.kit import ToolKit
from services.chat.tools.models import AssistantTool
from services.chat.tools.repository import MAX_TOOLS, ToolRepository
from services.chat.tools.schemas import BuiltinToolCreate, HttpToolCreate, ToolUpdate
from services.chat.tools.validation import schema_problem
from shared.db import utcnow
from shared.egress import EgressRefused

BUILTIN_DEFINITIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "search_knowledge": (
        "Search the business's knowledge base and past conversations for facts to answer with.",
        {
            "type": "object",
            "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 500}},
            "required": ["query"],
        },
    ),
    "handover_to_human": (
        "Hand this conversation to a human agent (the customer asks for one, or you cannot help).",
        {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 500}}},
    ),
}


class ToolService:
    def __init__(self, session: AsyncSession, kit: ToolKit) -> None:
        self.session = session
        self.repo = ToolRepository(session)
        self.assistants = AssistantService(session)
        self.kit = kit

    async def create(
        self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, data: HttpToolCreate | BuiltinToolCreate
    ) -> AssistantTool:
        assistant = await self.assistants.get(tenant_id, assistant_id)
        if await self.repo.count(tenant_id, assistant_id) >= MAX_TOOLS:
            raise ToolInvalid(f"an assistant has at most {MAX_TOOLS} tools")
        if await self.repo.by_name(tenant_id, assistant_id, data.name) is not None:
            raise ToolNameTaken(f"the assistant already has a tool named {data.name}")
        if isinstance(data, BuiltinToolCreate):
            description, parameters = BUILTIN_DEFINITIONS[data.name]
            tool = AssistantTool(
                id=uuid.uuid4(), tenant_id=tenant_id, assistant_id=assistant_id, type="builtin", name=data.name,
                description=data.description or description, parameters=parameters, url=None, method="POST",
                timeout_seconds=self.kit.settings.tools_timeout_max_seconds, secret_name=None,
            )  # fmt: skip
        else:
            await self._check(data.parameters, data.url, data.timeout_seconds)
            tool = AssistantTool(id=uuid.uuid4(), tenant_id=tenant_id, assistant_id=assistant_id, **data.model_dump())
        assistant.updated_at = utcnow()  # cached tool lists go stale (services/chat/tools/cache.py)
        return await self.repo.add(tool)

    async def list(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID) -> list[AssistantTool]:
        await self.assistants.get(tenant_id, assistant_id)
        return await self.repo.list(tenant_id, assistant_id)

    async def get(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, tool_id: uuid.UUID) -> AssistantTool:
        tool = await self.repo.get(tenant_id, assistant_id, tool_id)
        if tool is None:
            raise ToolNotFound(f"tool {tool_id} not found")
        return tool

    async def update(
        self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, tool_id: uuid.UUID, data: ToolUpdate
    ) -> AssistantTool:
        assistant = await self.assistants.get(tenant_id, assistant_id)
        tool = await self.get(tenant_id, assistant_id, tool_id)
        changes = data.model_dump(exclude_unset=True)
        if tool.type == "builtin" and set(changes) - {"description"}:
            raise ToolInvalid("a built-in tool only takes a new description")
        renamed = changes.get("name") and changes["name"] != tool.name
        if renamed and await self.repo.by_name(tenant_id, assistant_id, changes["name"]) is not None:
            raise ToolNameTaken(f"the assistant already has a tool named {changes['name']}")
        for required in ("name", "parameters", "url", "method", "timeout_seconds"):
            if required in changes and changes[required] is None:
                raise ToolInvalid(f"{required} cannot be null")
        if tool.type == "http":
            await self._check(
                changes.get("parameters", tool.parameters),
                changes.get("url", tool.url),
                changes.get("timeout_seconds", tool.timeout_seconds),
            )
        for name, value in changes.items():
            setattr(tool, name, value or None if name == "secret_name" else value)
        tool.updated_at = assistant.updated_at = utcnow()
        return tool

    async def delete(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, tool_id: uuid.UUID) -> None:
        assistant = await self.assistants.get(tenant_id, assistant_id)
        await self.repo.delete(await self.get(tenant_id, assistant_id, tool_id))
        assistant.updated_at = utcnow()

    async def _check(self, parameters: dict[str, Any], url: str | None, timeout: float) -> None:
        problem = schema_problem(parameters)
        if problem:
            raise ToolInvalid(problem)
        if timeout > self.kit.settings.tools_timeout_max_seconds:
            raise ToolInvalid(f"timeout_seconds is at most {self.kit.settings.tools_timeout_max_seconds}")
        try:
            await self.kit.guard.target(url or "")
        except EgressRefused as exc:
            raise ToolInvalid(f"url refused: {exc}") from None

    async def spec(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, tool_id: uuid.UUID) -> ToolSpec:
        return ToolSpec.of(await self.get(tenant_id, assistant_id, tool_id))
