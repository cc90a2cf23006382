"""Tenant and tenant-secret queries; deleted tenants are invisible."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.tenants.models import Tenant, TenantSecret
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


class TenantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return await self.session.scalar(select(Tenant).where(Tenant.id == tenant_id, Tenant.deleted_at.is_(None)))

    async def get_by_slug(self, slug: str) -> Tenant | None:
        return await self.session.scalar(select(Tenant).where(Tenant.slug == slug, Tenant.deleted_at.is_(None)))

    async def slug_taken(self, slug: str, *, other_than: uuid.UUID | None = None) -> bool:
        stmt = select(Tenant.id).where(Tenant.slug == slug, Tenant.deleted_at.is_(None))
        if other_than is not None:
            stmt = stmt.where(Tenant.id != other_than)
        return await self.session.scalar(stmt.limit(1)) is not None

    async def add(self, tenant: Tenant) -> Tenant:
        self.session.add(tenant)
        await self.session.flush()
        return tenant

    async def page(
        self, page: PageParams, *, only_ids: Sequence[uuid.UUID] | None = None, status: str | None = None
    ) -> KeysetPage:
        stmt = select(Tenant).where(Tenant.deleted_at.is_(None))
        if status is not None:
            stmt = stmt.where(Tenant.status == status)
        if only_ids is not None:
            stmt = stmt.where(Tenant.id.in_(list(only_ids)))
        return await keyset_page(self.session, stmt, Keyset.created(Tenant), page)

    async def count_by_status(self) -> dict[str, int]:
        """Live tenants per status, platform-wide (superusers and services only)."""
        stmt = select(Tenant.status, func.count()).where(Tenant.deleted_at.is_(None)).group_by(Tenant.status)
        return {str(row[0]): int(row[1]) for row in await self.session.execute(stmt)}

    async def get_secret(self, tenant_id: uuid.UUID, name: str) -> TenantSecret | None:
        return await self.session.scalar(
            select(TenantSecret).where(TenantSecret.tenant_id == tenant_id, TenantSecret.name == name)
        )

    async def list_secrets(self, tenant_id: uuid.UUID) -> list[TenantSecret]:
        stmt = select(TenantSecret).where(TenantSecret.tenant_id == tenant_id).order_by(TenantSecret.name).limit(200)
        return list((await self.session.scalars(stmt)).all())

    async def add_secret(self, secret: TenantSecret) -> TenantSecret:
        self.session.add(secret)
        await self.session.flush()
        return secret

    async def delete_secret(self, tenant_id: uuid.UUID, name: str) -> bool:
        result = await self.session.execute(
            delete(TenantSecret).where(TenantSecret.tenant_id == tenant_id, TenantSecret.name == name)
        )
        return bool(result.rowcount)
