"""/api/v1/contacts: customers and their whole history across threads."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.chat.contacts.schemas import ContactCreate, ContactMerge, ContactRead
from services.chat.contacts.service import ContactService
from services.chat.threads.schemas import MessageRead
from services.chat.threads.service import ThreadService
from shared.auth import ReadScope, TenantIdDep, WriteScope
from shared.db import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


@router.post(
    "",
    status_code=201,
    response_model=ContactRead,
    dependencies=[WriteScope],
    responses={409: {"description": "a contact already has this channel address"}},
)
async def create_contact(data: ContactCreate, session: SessionDep, tenant_id: TenantIdDep) -> ContactRead:
    return ContactRead.model_validate(await ContactService(session).create(tenant_id, data))


@router.get("", response_model=Page[ContactRead], dependencies=[ReadScope])
async def list_contacts(
    session: SessionDep, tenant_id: TenantIdDep, page: PageDep, q: Annotated[str | None, Query(max_length=200)] = None
) -> Page[ContactRead]:
    return await ContactService(session).list(tenant_id, page, q or None)


@router.get("/{contact_id}", response_model=ContactRead, dependencies=[ReadScope])
async def get_contact(contact_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep) -> ContactRead:
    return ContactRead.model_validate(await ContactService(session).get(tenant_id, contact_id))


@router.get("/{contact_id}/messages", response_model=Page[MessageRead], dependencies=[ReadScope])
async def contact_messages(
    contact_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, page: PageDep
) -> Page[MessageRead]:
    return await ThreadService(session).contact_messages(tenant_id, contact_id, page)


@router.post(
    "/{contact_id}/merge",
    response_model=ContactRead,
    dependencies=[WriteScope],
    responses={
        404: {"description": "either contact is not this tenant's (or was merged into another)"},
        422: {"description": "merging into itself, or both have an address on the same channel"},
    },
)
async def merge_contact(
    contact_id: uuid.UUID, data: ContactMerge, session: SessionDep, tenant_id: TenantIdDep
) -> ContactRead:
    """The other contact's channel addresses, threads and messages become this one's; the other answers 404."""
    return ContactRead.model_validate(await ContactService(session).merge(tenant_id, contact_id, data.contact_id))
