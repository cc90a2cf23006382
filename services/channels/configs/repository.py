"""Channel rows; every read by a tenant takes its tenant_id. Webhooks look channels up by id alone."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.channels.configs.models import Channel
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


class ChannelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, channel: Channel) -> Channel:
        self.session.add(channel)
        await self.session.flush()
        return channel

    async def get(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> Channel | None:
        stmt = select(Channel).where(
            Channel.id == channel_id, Channel.tenant_id == tenant_id, Channel.deleted_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_for_webhook(self, channel_id: uuid.UUID, channel_type: str) -> Channel | None:
        """The one cross-tenant read: a provider names the channel in the URL, the tenant follows from it."""
        stmt = select(Channel).where(
            Channel.id == channel_id, Channel.type == channel_type, Channel.deleted_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self, tenant_id: uuid.UUID, page: PageParams) -> KeysetPage[Channel]:
        stmt = select(Channel).where(Channel.tenant_id == tenant_id, Channel.deleted_at.is_(None))
        return await keyset_page(self.session, stmt, Keyset.created(Channel), page)
