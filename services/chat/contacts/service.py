"""Contacts: customers, from channels or created through the API."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.contacts.errors import ContactMergeConflict, ContactNotFound, InvalidContact
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
                raise Conflict(f"contact {existing.merged_into_id or existing.id} already has this channel address")
        try:
            async with self.session.begin_nested():
                return await self.repo.add(Contact(id=uuid.uuid4(), tenant_id=tenant_id, **data.model_dump()))
        except IntegrityError:
            raise Conflict("a contact with this channel address already exists") from None

    async def get(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
        contact = await self.repo.get_any(tenant_id, contact_id)
        if contact is None:
            raise ContactNotFound(f"contact {contact_id} not found")
        if contact.merged_into_id is not None:  # gone, but says where to: a caller can follow it
            into = str(contact.merged_into_id)
            raise ContactNotFound(f"contact {contact_id} was merged into {into}", merged_into=into)
        return contact

    async def merge(self, tenant_id: uuid.UUID, contact_id: uuid.UUID, other_id: uuid.UUID) -> Contact:
        """`other` joins `contact_id`: its addresses, threads and messages; its name, phone and email fill gaps.
        A replay (other already merged into this one) changes nothing."""
        if other_id == contact_id:
            raise ContactMergeConflict("a contact cannot be merged into itself")
        pair = await self.repo.lock_pair(tenant_id, [contact_id, other_id])
        into, other = pair.get(contact_id), pair.get(other_id)
        if into is None or into.merged_into_id is not None:
            raise ContactNotFound(f"contact {contact_id} not found")
        if other is not None and other.merged_into_id == into.id:
            return into
        if other is None or other.merged_into_id is not None:
            raise ContactNotFound(f"contact {other_id} not found")
        channels = await self.repo.group_channels(tenant_id, into.id)
        # Replies on a channel both are on could no longer tell which address is meant.
        if channels & await self.repo.group_channels(tenant_id, other.id):
            raise ContactMergeConflict("both contacts have an address on the same channel")
        into.name = into.name or other.name
        into.phone = into.phone or other.phone
        into.email = into.email or other.email
        if other.last_seen_at and (into.last_seen_at is None or other.last_seen_at > into.last_seen_at):
            into.last_seen_at = other.last_seen_at
        await self.repo.move_into(tenant_id, other, into)
        return into

    async def list(self, tenant_id: uuid.UUID, page: PageParams, q: str | None) -> Page[ContactRead]:
        found = await self.repo.list(tenant_id, page, q)
        return Page(items=[ContactRead.model_validate(c) for c in found.rows], next_cursor=found.next_cursor)
