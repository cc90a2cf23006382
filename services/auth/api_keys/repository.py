"""API-key queries; every read by id takes the tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.api_keys.models import ApiKey
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id))

    async def get_by_prefix(self, prefix: str) -> ApiKey | None:
        """For the token exchange only: the prefix is all the caller has before the key is checked."""
        return await self.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))

    async def of_creator(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[ApiKey]:
        """A member's unrevoked keys in a tenant (capped: whatever a member holds, well beyond any quota)."""
        stmt = select(ApiKey).where(
            ApiKey.tenant_id == tenant_id, ApiKey.created_by == user_id, ApiKey.revoked_at.is_(None)
        )
        return list((await self.session.scalars(stmt.limit(10_000))).all())

    async def count_active(self, tenant_id: uuid.UUID) -> int:
        """Keys that still work: not revoked, not expired (what the API-key quota counts)."""
        stmt = select(func.count()).where(
            ApiKey.tenant_id == tenant_id,
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > func.now()),
        )
        return int(await self.session.scalar(stmt) or 0)

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def page(self, tenant_id: uuid.UUID, page: PageParams, *, include_revoked: bool = False) -> KeysetPage:
        stmt = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        return await keyset_page(self.session, stmt, Keyset.created(ApiKey), page)
