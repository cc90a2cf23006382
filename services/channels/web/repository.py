"""Web channels by their public key, and their visitors; every visitor read takes the channel's tenant and id."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.channels.configs.models import Channel
from services.channels.web.models import WebVisitor
from shared.db import utcnow


class WebRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def channel_by_key(self, public_key: str) -> Channel | None:
        """A cross-tenant read like a webhook's: the widget's key names the channel, the tenant follows from it."""
        stmt = select(Channel).where(
            Channel.public_key == public_key, Channel.type == "web", Channel.deleted_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def visitor(self, tenant_id: uuid.UUID, channel_id: uuid.UUID, visitor_id: uuid.UUID) -> WebVisitor | None:
        stmt = select(WebVisitor).where(
            WebVisitor.id == visitor_id, WebVisitor.tenant_id == tenant_id, WebVisitor.channel_id == channel_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_visitor(self, visitor: WebVisitor) -> WebVisitor:
        self.session.add(visitor)
        await self.session.flush()
        return visitor

    async def seen(self, visitor: WebVisitor, name: str | None, email: str | None) -> None:
        if name:
            visitor.name = name
        if email:
            visitor.email = email
        visitor.last_seen_at = utcnow()
        await self.session.flush()
