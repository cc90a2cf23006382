"""/api/v1/buffers: conversations waiting for their burst to end; force flush answers now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from services.chat.buffers.schemas import BufferRead, FlushAccepted
from services.chat.buffers.service import BufferService
from services.chat.buffers.store import BufferStore
from shared.auth import ReadScope, TenantIdDep, WriteScope
from shared.db import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/buffers", tags=["buffers"])


def get_store(request: Request) -> BufferStore:
    store = getattr(request.app.state, "buffers", None)
    if store is None:
        store = request.app.state.buffers = BufferStore(request.app.state.redis)
    return store


StoreDep = Annotated[BufferStore, Depends(get_store)]


@router.get("", response_model=Page[BufferRead], dependencies=[ReadScope])
async def list_buffers(session: SessionDep, tenant_id: TenantIdDep, store: StoreDep, page: PageDep) -> Page[BufferRead]:
    """Live buffers of this tenant, soonest due first (at most `limit`; no further pages)."""
    return Page(items=await BufferService(session, store).list(tenant_id, page.limit), next_cursor=None)


@router.post("/{key}/flush", status_code=202, response_model=FlushAccepted, dependencies=[WriteScope])
async def flush_buffer(
    session: SessionDep,
    tenant_id: TenantIdDep,
    store: StoreDep,
    key: Annotated[str, Path(max_length=100, pattern=r"^[0-9a-f-]{36}:[0-9a-f-]{36}$")],
) -> FlushAccepted:
    """Make the burst due now; a chat worker answers it within a moment."""
    return await BufferService(session, store).flush(tenant_id, key)
