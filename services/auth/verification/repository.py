"""Email-token rows, looked up by the hash of the mailed token."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.verification.models import EmailToken
from shared.db import utcnow


class EmailTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_hash(self, token_hash: str) -> EmailToken | None:
        stmt = select(EmailToken).where(EmailToken.token_hash == token_hash).with_for_update()
        return await self.session.scalar(stmt)

    async def add(self, token: EmailToken) -> EmailToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def prune(self, older_than: timedelta) -> int:
        """Spent and expired tokens past `older_than` (their hashes prove nothing any more)."""
        cutoff = utcnow() - older_than
        stmt = delete(EmailToken).where(or_(EmailToken.used_at < cutoff, EmailToken.expires_at < cutoff))
        return (await self.session.execute(stmt)).rowcount or 0
