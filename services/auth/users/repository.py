"""User queries (users are platform-wide; tenant scoping lives in memberships)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.users.models import User
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email.lower()))

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(User)) or 0)

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def page(self, page: PageParams, *, is_active: bool | None = None, q: str | None = None) -> KeysetPage:
        stmt = select(User)
        if is_active is not None:
            stmt = stmt.where(User.is_active.is_(is_active))
        if q:
            stmt = stmt.where(User.email.contains(q.lower(), autoescape=True))
        return await keyset_page(self.session, stmt, Keyset.created(User), page)
