"""Contact rows; every method takes the tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.contacts.models import Contact
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def get(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
        stmt = select(Contact).where(Contact.id == contact_id, Contact.tenant_id == tenant_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def find_on_channel(
        self, tenant_id: uuid.UUID, channel_id: uuid.UUID, external_id: str, *, lock: bool = False
    ) -> Contact | None:
        stmt = select(Contact).where(
            Contact.tenant_id == tenant_id, Contact.channel_id == channel_id, Contact.external_id == external_id
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self, tenant_id: uuid.UUID, page: PageParams, q: str | None = None) -> KeysetPage[Contact]:
        stmt = select(Contact).where(Contact.tenant_id == tenant_id)
        if q:
            like = f"%{_escape(q)}%"
            stmt = stmt.where(
                or_(
                    Contact.name.ilike(like, escape="\\"),
                    Contact.phone.ilike(like, escape="\\"),
                    Contact.email.ilike(like, escape="\\"),
                )
            )
        return await keyset_page(self.session, stmt, Keyset.created(Contact), page)


def _escape(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
