"""Tenant admins manage their members; a tenant always keeps at least one admin."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.members.errors import LastAdmin, MemberNotFound
from services.auth.members.joining import Joining
from services.auth.members.models import Membership
from services.auth.members.repository import MembershipRepository
from services.auth.members.schemas import MemberCreate, MemberRead, MemberUpdate
from services.auth.tenants.service import TenantService
from services.auth.tokens.revocation import AccessRevoker
from services.auth.users.models import User
from services.auth.users.repository import UserRepository
from services.auth.users.service import UserService
from shared.auth import Principal
from shared.db import utcnow
from shared.logging import get_logger
from shared.pagination import Page, PageParams

log = get_logger("members")


def _read(membership: Membership, user: User) -> MemberRead:
    return MemberRead(
        user_id=user.id,
        tenant_id=membership.tenant_id,
        email=user.email,
        full_name=user.full_name,
        role=membership.role,
        is_active=user.is_active,
        created_at=membership.created_at,
    )


class MemberService:
    def __init__(self, session: AsyncSession, tenants: TenantService, users: UserService, joining: Joining) -> None:
        self.session = session
        self.tenants = tenants
        self.user_service = users
        self.joining = joining
        self.users = UserRepository(session)
        self.members = MembershipRepository(session)

    def _revoker(self) -> AccessRevoker:
        return AccessRevoker(self.session, self.user_service.settings, self.user_service.redis)

    async def _member(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Membership, User]:
        membership = await self.members.get(tenant_id, user_id)
        user = await self.users.get(user_id) if membership else None
        if membership is None or user is None:
            raise MemberNotFound()
        return membership, user

    async def list(self, principal: Principal, tenant_id: uuid.UUID, page: PageParams) -> Page[MemberRead]:
        await self.tenants.visible(principal, tenant_id)
        found = await self.members.page(tenant_id, page)
        items = []
        for membership in found.rows:
            user = await self.users.get(membership.user_id)
            if user is not None:
                items.append(_read(membership, user))
        return Page(items=items, next_cursor=found.next_cursor)

    async def add(self, principal: Principal, tenant_id: uuid.UUID, data: MemberCreate) -> MemberRead:
        """Same 201 and body shape whatever the address's state (services/auth/members/joining.py)."""
        tenant = await self.tenants.visible(principal, tenant_id)
        joined = await self.joining.add(tenant, data)
        if joined.membership is not None:
            return _read(joined.membership, joined.user)
        user = joined.user
        return MemberRead(
            user_id=user.id,
            tenant_id=tenant_id,
            email=user.email,
            full_name=user.full_name,
            role=data.role,
            is_active=user.is_active,
            created_at=utcnow(),
        )

    async def update(self, principal: Principal, tenant_id: uuid.UUID, user_id: uuid.UUID, data: MemberUpdate):
        await self.tenants.visible(principal, tenant_id)
        membership, user = await self._member(tenant_id, user_id)
        if membership.role == "admin" and data.role != "admin" and await self.members.count_admins(tenant_id) <= 1:
            raise LastAdmin("a tenant needs at least one admin")
        changed = membership.role != data.role
        membership.role = data.role
        await self.session.flush()
        if changed:  # tokens carry the role: the old ones end, keys beyond the new role stop
            await self._revoker().role_changed(user.id, tenant_id, data.role)
            log.info("member_role_changed", tenant_id=str(tenant_id), user_id=str(user.id), role=data.role)
        return _read(membership, user)

    async def remove(self, principal: Principal, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        await self.tenants.visible(principal, tenant_id)
        membership, _ = await self._member(tenant_id, user_id)
        if membership.role == "admin" and await self.members.count_admins(tenant_id) <= 1:
            raise LastAdmin("a tenant needs at least one admin")
        await self.members.remove(membership)
        await self._revoker().role_changed(user_id, tenant_id, None)
        log.info("member_removed", tenant_id=str(tenant_id), user_id=str(user_id))
