"""Contact rows; every method takes the tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.contacts.models import Contact
from services.chat.threads.models import Message, Thread
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def get(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
        """A live contact (not merged into another)."""
        found = await self.get_any(tenant_id, contact_id)
        return found if found is not None and found.merged_into_id is None else None

    async def get_any(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
        stmt = select(Contact).where(Contact.id == contact_id, Contact.tenant_id == tenant_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def lock_pair(self, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, Contact]:
        """Both rows of a merge, locked in id order (two merges of one pair never deadlock)."""
        stmt = (
            select(Contact)
            .where(Contact.tenant_id == tenant_id, Contact.id.in_(ids))
            .order_by(Contact.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {c.id: c for c in (await self.session.execute(stmt)).scalars()}

    async def group_channels(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> set[uuid.UUID]:
        """The channels a contact has an address on: its own and its merged aliases'."""
        stmt = select(Contact.channel_id).where(
            Contact.tenant_id == tenant_id,
            or_(Contact.id == contact_id, Contact.merged_into_id == contact_id),
            Contact.channel_id.is_not(None),
        )
        return set((await self.session.execute(stmt)).scalars())

    async def move_into(self, tenant_id: uuid.UUID, other: Contact, into: Contact) -> None:
        """`other`'s threads (keeping their reply address), messages and aliases become `into`'s; `other` becomes an
        alias of `into` for its own address."""
        keep_address = case((Thread.channel_id == other.channel_id, other.external_id), else_=None)
        moved = (
            update(Thread)
            .where(Thread.tenant_id == tenant_id, Thread.contact_id == other.id)
            .values(contact_id=into.id, recipient=func.coalesce(Thread.recipient, keep_address))
            .returning(Thread.id)
        )
        thread_ids = list((await self.session.execute(moved)).scalars())
        if thread_ids:
            await self.session.execute(
                update(Message)
                .where(Message.tenant_id == tenant_id, Message.thread_id.in_(thread_ids))
                .values(contact_id=into.id)
            )
        await self.session.execute(
            update(Contact)
            .where(Contact.tenant_id == tenant_id, Contact.merged_into_id == other.id)
            .values(merged_into_id=into.id)
        )
        other.merged_into_id = into.id
        await self.session.flush()

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
        stmt = select(Contact).where(Contact.tenant_id == tenant_id, Contact.merged_into_id.is_(None))
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
