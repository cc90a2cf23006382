"""Tool rows; every method takes the tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.tools.models import AssistantTool

MAX_TOOLS = 64  # per assistant: the list every LLM call carries


class ToolRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, tool: AssistantTool) -> AssistantTool:
        self.session.add(tool)
        await self.session.flush()
        return tool

    async def get(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, tool_id: uuid.UUID) -> AssistantTool | None:
        stmt = select(AssistantTool).where(
            AssistantTool.tenant_id == tenant_id,
            AssistantTool.assistant_id == assistant_id,
            AssistantTool.id == tool_id,
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_name(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, name: str) -> AssistantTool | None:
        stmt = select(AssistantTool).where(
            AssistantTool.tenant_id == tenant_id,
            AssistantTool.assistant_id == assistant_id,
            AssistantTool.name == name,
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID) -> list[AssistantTool]:
        stmt = (
            select(AssistantTool)
            .where(AssistantTool.tenant_id == tenant_id, AssistantTool.assistant_id == assistant_id)
            .order_by(AssistantTool.created_at, AssistantTool.id)
            .limit(MAX_TOOLS)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def count(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID) -> int:
        return len(await self.list(tenant_id, assistant_id))

    async def delete(self, tool: AssistantTool) -> None:
        await self.session.execute(
            delete(AssistantTool).where(AssistantTool.tenant_id == tool.tenant_id, AssistantTool.id == tool.id)
        )
