"""Contacts: customers, from channels or created through the API."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.contacts.errors import ContactNotFound, InvalidContact
from services.chat.contacts.models import Contact
from services.chat.contacts.repository import ContactRepository
from services.chat.contacts.schemas import ContactCreate, ContactRead
from shared.errors import Conflict
from shared.events.channels import CHANNEL_TYPES
from shared.pagination import Page, PageParams


class ContactService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = ContactRepository(session)

    async def create(self, tenant_id: uuid.UUID, data: ContactCreate) -> Contact:
        if data.channel in CHANNEL_TYPES and not (data.channel_id and data.external_id):
            raise InvalidContact("a channel contact needs channel_id and external_id (where replies go)")
        if data.channel_id and data.external_id:
            existing = await self.repo.find_on_channel(tenant_id, data.channel_id, data.external_id)
            if existing is not None:
                raise Conflict(f"contact {existing.id} already has this channel address")
        try:
            async with self.session.begin_nested():
                return await self.repo.add(Contact(id=uuid.uuid4(), tenant_id=tenant_id, **data.model_dump()))
        except IntegrityError:
            raise Conflict("a contact with this channel address already exists") from None

    async def get(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
        contact = await self.repo.get(tenant_id, contact_id)
        if contact is None:
            raise ContactNotFound(f"contact {contact_id} not found")
        return contact

    async def list(self, tenant_id: uuid.UUID, page: PageParams, q: str | None) -> Page[ContactRead]:
        found = await self.repo.list(tenant_id, page, q)
        return Page(items=[ContactRead.model_validate(c) for c in found.rows], next_cursor=found.next_cursor)
