"""Membership queries; every one takes the tenant, except the user's own list of tenants."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.members.models import Membership
from services.auth.tenants.models import Tenant
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


class MembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
        return await self.session.scalar(
            select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user_id)
        )

    async def of_user(self, user_id: uuid.UUID, *, active_only: bool = False) -> list[tuple[Membership, Tenant]]:
        """The user's memberships with their (live) tenants, oldest first, capped."""
        stmt = (
            select(Membership, Tenant)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id == user_id, Tenant.deleted_at.is_(None))
            .order_by(Membership.created_at, Membership.id)
            .limit(500)
        )
        if active_only:
            stmt = stmt.where(Tenant.status == "active")
        return [(m, t) for m, t in (await self.session.execute(stmt)).all()]

    async def has_any(self, user_id: uuid.UUID) -> bool:
        """Whether the user belongs to any tenant at all (deleted ones included)."""
        stmt = select(Membership.id).where(Membership.user_id == user_id).limit(1)
        return await self.session.scalar(stmt) is not None

    async def count_admins(self, tenant_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(Membership.tenant_id == tenant_id, Membership.role == "admin")
        return int(await self.session.scalar(stmt) or 0)

    async def add(self, membership: Membership) -> Membership:
        self.session.add(membership)
        await self.session.flush()
        return membership

    async def remove(self, membership: Membership) -> None:
        await self.session.delete(membership)
        await self.session.flush()

    async def page(self, tenant_id: uuid.UUID, page: PageParams) -> KeysetPage:
        stmt = select(Membership).where(Membership.tenant_id == tenant_id)
        return await keyset_page(self.session, stmt, Keyset.created(Membership), page)
