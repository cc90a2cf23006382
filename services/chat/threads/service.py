"""Threads: create, list, change, soft delete/restore, history, and human reviews of AI answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.service import AssistantService
from services.chat.attachments.listing import message_reads
from services.chat.contacts.service import ContactService
from services.chat.tenants.settings import TenantSettings
from services.chat.threads.errors import (
    MessageEmpty,
    MessageNotFound,
    MessageTooLong,
    NotReviewable,
    SectorNotAllowed,
    ThreadNotFound,
)
from services.chat.threads.events import emit_index, emit_outbound, emit_thread_hidden, emit_thread_restored
from services.chat.threads.models import Message, Thread
from services.chat.threads.repository import ThreadFilters, ThreadRepository
from services.chat.threads.schemas import (
    MessageRead,
    MessageReview,
    SectorCount,
    SectorCounts,
    ThreadCreate,
    ThreadRead,
    ThreadUpdate,
)
from shared.auth import Principal
from shared.db import utcnow
from shared.pagination import Page, PageParams

MAX_SECTOR_COUNTS = 200


@dataclass(frozen=True)
class Owner:
    """Who starts a thread: `user` (a user id) or `api_key` (a key id)."""

    kind: str
    id: str

    @classmethod
    def of(cls, principal: Principal) -> Owner | None:
        """None for a service (a channel's thread has no owner)."""
        if principal.kind == "user" and principal.user_id is not None:
            return cls("user", str(principal.user_id))
        if principal.kind == "api_key":
            return cls("api_key", principal.sub.removeprefix("key:"))
        return None


def check_sector(sector: str | None, allowed: tuple[str, ...]) -> None:
    """With a tenant sector list, a thread's sector is one of it; without one, any sector goes."""
    if sector is not None and allowed and sector not in allowed:
        raise SectorNotAllowed(f"sector {sector!r} is not one of this tenant's sectors: {', '.join(allowed)}")


class ThreadService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = ThreadRepository(session)

    async def create(
        self, tenant_id: uuid.UUID, data: ThreadCreate, owner: Owner | None = None, sectors: tuple[str, ...] = ()
    ) -> Thread:
        check_sector(data.sector, sectors)
        assistant = await AssistantService(self.session).resolve(tenant_id, data.assistant_id)
        thread = Thread(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            assistant_id=assistant.id if assistant else None,
            title=data.title,
            sector=data.sector,
            status="open",
            ai_enabled=True,
            needs_human=False,
            last_message_at=utcnow(),
            created_by_kind=owner.kind if owner else None,
            created_by_id=owner.id if owner else None,
        )
        if data.contact_id is not None:
            contact = await ContactService(self.session).get(tenant_id, data.contact_id)
            thread.contact_id = contact.id
            thread.channel = contact.channel
            thread.channel_id = contact.channel_id
        else:
            thread.channel = "api"
        return await self.repo.add(thread)

    async def get(self, tenant_id: uuid.UUID, thread_id: uuid.UUID, *, include_deleted: bool = False) -> Thread:
        thread = await self.repo.get(tenant_id, thread_id, include_deleted=include_deleted)
        if thread is None:
            raise ThreadNotFound(f"thread {thread_id} not found")
        return thread

    async def list(self, tenant_id: uuid.UUID, filters: ThreadFilters, page: PageParams) -> Page[ThreadRead]:
        found = await self.repo.list(tenant_id, filters, page)
        return Page(items=[ThreadRead.model_validate(t) for t in found.rows], next_cursor=found.next_cursor)

    async def update(
        self, tenant_id: uuid.UUID, thread_id: uuid.UUID, data: ThreadUpdate, sectors: tuple[str, ...] = ()
    ) -> Thread:
        changes = data.model_dump(exclude_unset=True)
        check_sector(changes.get("sector"), sectors)
        thread = await self.get(tenant_id, thread_id)
        if "assistant_id" in changes and data.assistant_id is not None:
            thread.assistant_id = (await AssistantService(self.session).get(tenant_id, data.assistant_id)).id
        for name in ("title", "sector"):
            if name in changes:
                setattr(thread, name, changes[name])
        for name in ("status", "ai_enabled"):
            if changes.get(name) is not None:
                setattr(thread, name, changes[name])
        if data.ai_enabled is False:
            thread.needs_human = False  # a human has taken over
        thread.updated_at = utcnow()
        return thread

    async def delete(self, tenant_id: uuid.UUID, thread_id: uuid.UUID) -> None:
        thread = await self.get(tenant_id, thread_id)
        thread.deleted_at = utcnow()
        await emit_thread_hidden(self.session, thread)

    async def restore(self, tenant_id: uuid.UUID, thread_id: uuid.UUID) -> Thread:
        thread = await self.get(tenant_id, thread_id, include_deleted=True)
        was_deleted = thread.deleted_at is not None
        thread.deleted_at = None
        thread.updated_at = utcnow()
        if was_deleted:
            await emit_thread_restored(self.session, thread, thread.updated_at)
        return thread

    async def sector_counts(self, tenant_id: uuid.UUID, status: str | None) -> SectorCounts:
        tallies = await self.repo.sector_counts(tenant_id, status, MAX_SECTOR_COUNTS)
        return SectorCounts(items=[SectorCount(sector=t.sector, count=t.count) for t in tallies])

    async def message(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message:
        message = await self.repo.get_message(tenant_id, message_id)
        if message is None:
            raise MessageNotFound(f"message {message_id} not found")
        return message

    async def messages(
        self, tenant_id: uuid.UUID, thread_id: uuid.UUID, page: PageParams, *, include_deleted: bool = False
    ) -> Page[MessageRead]:
        await self.get(tenant_id, thread_id, include_deleted=include_deleted)
        found = await self.repo.messages(tenant_id, thread_id, page)
        items = await message_reads(self.session, tenant_id, found.rows)
        return Page(items=items, next_cursor=found.next_cursor)

    async def contact_messages(self, tenant_id: uuid.UUID, contact_id: uuid.UUID, page: PageParams):
        await ContactService(self.session).get(tenant_id, contact_id)
        found = await self.repo.contact_messages(tenant_id, contact_id, page)
        items = await message_reads(self.session, tenant_id, found.rows)
        return Page(items=items, next_cursor=found.next_cursor)

    async def review(
        self,
        tenant_id: uuid.UUID,
        message_id: uuid.UUID,
        data: MessageReview,
        tenant: TenantSettings,
        operator: str | None,
        max_chars: int,
    ) -> Message:
        """Record a human review; an approved answer that was waiting for approval goes to the customer now."""
        message = await self.message(tenant_id, message_id)
        if message.role != "assistant":
            raise NotReviewable("only AI answers (role assistant) can be reviewed")
        if data.corrected_content is not None:
            corrected = data.corrected_content.strip()
            if not corrected:
                raise MessageEmpty("corrected_content must not be empty")
            if len(corrected) > max_chars:
                raise MessageTooLong(f"corrected_content is longer than {max_chars} characters")
            message.corrected_content = corrected
        was_pending = message.validated_by == "pending"
        message.validated_by = "human"
        message.review = data.review
        message.operator_name = data.operator_name or operator
        message.reviewed_at = utcnow()
        thread = await self.get(tenant_id, message.thread_id)
        await emit_index(self.session, thread, message)
        if was_pending and data.review == "approved":
            contact = (
                await ContactService(self.session).repo.get(tenant_id, thread.contact_id) if thread.contact_id else None
            )
            text = message.corrected_content or message.content
            await emit_outbound(self.session, thread, contact, message, text, tenant.split_replies)
        await self.session.flush()
        return message
