"""Assistants: one tenant's personas; at most one is the default."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.errors import AssistantNotFound
from services.chat.assistants.models import Assistant
from services.chat.assistants.repository import AssistantRepository
from services.chat.assistants.schemas import AssistantCreate, AssistantRead, AssistantUpdate
from shared.db import utcnow
from shared.pagination import Page, PageParams


class AssistantService:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = AssistantRepository(session)

    async def create(self, tenant_id: uuid.UUID, data: AssistantCreate) -> Assistant:
        is_default = data.is_default or await self.repo.get_default(tenant_id) is None
        if is_default:
            await self.repo.clear_default(tenant_id)
        return await self.repo.add(
            Assistant(
                id=uuid.uuid4(), tenant_id=tenant_id, **data.model_dump(exclude={"is_default"}), is_default=is_default
            )
        )

    async def get(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID) -> Assistant:
        assistant = await self.repo.get(tenant_id, assistant_id)
        if assistant is None:
            raise AssistantNotFound(f"assistant {assistant_id} not found")
        return assistant

    async def resolve(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID | None) -> Assistant | None:
        """The named assistant (404 if not this tenant's), else the tenant's default (may be none)."""
        if assistant_id is not None:
            return await self.get(tenant_id, assistant_id)
        return await self.repo.get_default(tenant_id)

    async def find(self, tenant_id: uuid.UUID, ref: str) -> Assistant:
        assistant = await self.repo.get_by_id_or_name(tenant_id, ref)
        if assistant is None:
            raise AssistantNotFound(f"model '{ref[:100]}' is not an assistant of this tenant")
        return assistant

    async def list(self, tenant_id: uuid.UUID, page: PageParams) -> Page[AssistantRead]:
        found = await self.repo.list(tenant_id, page)
        return Page(items=[AssistantRead.model_validate(a) for a in found.rows], next_cursor=found.next_cursor)

    async def update(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID, data: AssistantUpdate) -> Assistant:
        assistant = await self.get(tenant_id, assistant_id)
        changes = data.model_dump(exclude_unset=True)
        if changes.pop("is_default", None) and not assistant.is_default:
            await self.repo.clear_default(tenant_id)
            assistant.is_default = True
        for name in ("name", "instructions", "use_knowledge", "vision"):
            if changes.get(name) is not None:
                setattr(assistant, name, changes[name])
        for name in ("model", "temperature"):  # nullable: null means "use the tenant/platform default"
            if name in changes:
                setattr(assistant, name, changes[name])
        assistant.updated_at = utcnow()
        return assistant

    async def delete(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID) -> None:
        assistant = await self.get(tenant_id, assistant_id)
        assistant.deleted_at = utcnow()
        assistant.is_default = False
