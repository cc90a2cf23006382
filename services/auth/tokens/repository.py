"""Refresh-token rows: looked up by hash, revoked by family."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.tokens.models import RefreshToken
from shared.db import utcnow


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_hash(self, token_hash: str, *, for_update: bool = False) -> RefreshToken | None:
        stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def add(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def revoke_family(self, family_id: uuid.UUID) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    async def family_alive(self, family_id: uuid.UUID) -> bool:
        """A session (refresh family) that logout, a password change or an account reset has not ended."""
        stmt = select(RefreshToken.id).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        return await self.session.scalar(stmt.limit(1)) is not None

    async def revoke_user(
        self, user_id: uuid.UUID, *, keep_family: uuid.UUID | None = None, tenant_id: uuid.UUID | None = None
    ) -> None:
        stmt = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        if keep_family is not None:
            stmt = stmt.where(RefreshToken.family_id != keep_family)
        if tenant_id is not None:
            stmt = stmt.where(RefreshToken.tenant_id == tenant_id)
        await self.session.execute(stmt.values(revoked_at=utcnow()))

    async def recent_families(
        self,
        user_id: uuid.UUID,
        since: datetime,
        *,
        tenant_id: uuid.UUID | None = None,
        exclude: uuid.UUID | None = None,
    ) -> list[uuid.UUID]:
        """Families that issued a token pair after `since`: the only ones whose access tokens may still be alive."""
        stmt = select(RefreshToken.family_id).where(RefreshToken.user_id == user_id, RefreshToken.created_at > since)
        if tenant_id is not None:
            stmt = stmt.where(RefreshToken.tenant_id == tenant_id)
        if exclude is not None:
            stmt = stmt.where(RefreshToken.family_id != exclude)
        return list((await self.session.scalars(stmt.distinct().limit(10_000))).all())
