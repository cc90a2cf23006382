"""Email-token rows, looked up by the hash of the mailed token."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.verification.models import EmailToken


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
