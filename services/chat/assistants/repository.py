"""Assistant rows; every method takes the tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.models import Assistant
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


class AssistantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, assistant: Assistant) -> Assistant:
        self.session.add(assistant)
        await self.session.flush()
        return assistant

    async def get(self, tenant_id: uuid.UUID, assistant_id: uuid.UUID) -> Assistant | None:
        stmt = select(Assistant).where(
            Assistant.id == assistant_id, Assistant.tenant_id == tenant_id, Assistant.deleted_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_id_or_name(self, tenant_id: uuid.UUID, ref: str) -> Assistant | None:
        try:
            as_id = uuid.UUID(ref)
        except ValueError:
            as_id = None
        cond = func.lower(Assistant.name) == ref.lower()
        if as_id is not None:
            cond = or_(Assistant.id == as_id, cond)
        stmt = (
            select(Assistant)
            .where(Assistant.tenant_id == tenant_id, Assistant.deleted_at.is_(None), cond)
            .order_by(Assistant.created_at)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_default(self, tenant_id: uuid.UUID) -> Assistant | None:
        stmt = select(Assistant).where(
            Assistant.tenant_id == tenant_id, Assistant.is_default.is_(True), Assistant.deleted_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def clear_default(self, tenant_id: uuid.UUID) -> None:
        await self.session.execute(
            update(Assistant)
            .where(Assistant.tenant_id == tenant_id, Assistant.is_default.is_(True))
            .values(is_default=False)
        )
        await self.session.flush()

    async def list(self, tenant_id: uuid.UUID, page: PageParams) -> KeysetPage[Assistant]:
        stmt = select(Assistant).where(Assistant.tenant_id == tenant_id, Assistant.deleted_at.is_(None))
        return await keyset_page(self.session, stmt, Keyset.created(Assistant), page)
