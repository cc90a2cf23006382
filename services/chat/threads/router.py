"""/api/v1/threads, /api/v1/messages/{id} and /api/v1/chat."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sse_starlette import EventSourceResponse

from services.chat.attachments.errors import ATTACHMENT_REFUSALS
from services.chat.attachments.listing import fresh_read, message_reads
from services.chat.live.publisher import LiveDep
from services.chat.runtime import RuntimeDep
from services.chat.threads.answers import AnswerService
from services.chat.threads.repository import ThreadFilters
from services.chat.threads.schemas import (
    ChatReply,
    ChatRequest,
    Exchange,
    MessageCreate,
    MessageRead,
    MessageReview,
    SectorCounts,
    ThreadCreate,
    ThreadCreated,
    ThreadRead,
    ThreadStatus,
    ThreadUpdate,
)
from services.chat.threads.service import Owner, ThreadService
from services.chat.threads.streaming import StreamingAnswers
from shared.auth import CurrentPrincipal, Principal, ReadScope, TenantIdDep, WriteScope
from shared.db import SessionDep
from shared.errors import Forbidden
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1", tags=["threads"])
SSE = "text/event-stream"


def _operator(principal: Principal) -> str | None:
    return principal.claims.get("name") or principal.claims.get("email") or principal.sub


def wants_stream(request: Request) -> bool:
    return SSE in request.headers.get("accept", "")


@router.post(
    "/threads",
    status_code=201,
    response_model=ThreadCreated,
    dependencies=[WriteScope],
    responses={
        404: {"description": "the contact or assistant named in the body does not exist"},
        **ATTACHMENT_REFUSALS,
    },
)
async def create_thread(
    data: ThreadCreate, tenant_id: TenantIdDep, runtime: RuntimeDep, principal: CurrentPrincipal
) -> ThreadCreated:
    answers = AnswerService(runtime)
    thread, turn = await answers.create_thread(tenant_id, data, _operator(principal), Owner.of(principal))
    out = ThreadCreated.model_validate(thread)
    if turn is not None:
        out.user_message = fresh_read(turn.user_message, turn.images)
        reply = await answers.answer(turn)
        out.assistant_message = MessageRead.model_validate(reply) if reply else None
        out.last_message_at = (reply or turn.user_message).created_at
    return out


@router.get("/threads", response_model=Page[ThreadRead], dependencies=[ReadScope])
async def list_threads(
    session: SessionDep,
    tenant_id: TenantIdDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: ThreadStatus | None = None,
    sector: Annotated[str | None, Query(max_length=100)] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    contact_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    include_deleted: bool = False,
    owner: Literal["me"] | None = None,
) -> Page[ThreadRead]:
    """`owner=me`: only the threads the caller (this user, or this API key) started."""
    mine = Owner.of(principal) if owner == "me" else None
    if owner == "me" and mine is None:
        raise Forbidden("owner=me needs a user or an API key")
    filters = ThreadFilters(status, sector, channel, contact_id, q or None, include_deleted, mine.id if mine else None)
    return await ThreadService(session).list(tenant_id, filters, page)


@router.get("/threads/counts", response_model=SectorCounts, dependencies=[ReadScope])
async def count_threads(
    session: SessionDep, tenant_id: TenantIdDep, by: Literal["sector"] = "sector", status: ThreadStatus | None = None
) -> SectorCounts:
    """Live threads per sector for the inbox (`null`: no sector), most first, at most 200 sectors."""
    return await ThreadService(session).sector_counts(tenant_id, status)


@router.get("/threads/{thread_id}", response_model=ThreadRead, dependencies=[ReadScope])
async def get_thread(
    thread_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, include_deleted: bool = False
) -> ThreadRead:
    """`include_deleted=true`: a soft-deleted thread too (the console shows it with Restore)."""
    return ThreadRead.model_validate(
        await ThreadService(session).get(tenant_id, thread_id, include_deleted=include_deleted)
    )


@router.patch(
    "/threads/{thread_id}",
    response_model=ThreadRead,
    dependencies=[WriteScope],
    responses={422: {"description": "the sector is not one of the tenant's sectors"}},
)
async def update_thread(
    thread_id: uuid.UUID,
    data: ThreadUpdate,
    session: SessionDep,
    tenant_id: TenantIdDep,
    runtime: RuntimeDep,
    live: LiveDep,
) -> ThreadRead:
    sectors = (await runtime.tenants.get(tenant_id)).sectors if data.sector is not None else ()
    thread = await ThreadService(session).update(tenant_id, thread_id, data, sectors)
    live.thread_updated(session, thread)
    return ThreadRead.model_validate(thread)


@router.delete("/threads/{thread_id}", status_code=204, dependencies=[WriteScope])
async def delete_thread(thread_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, live: LiveDep) -> Response:
    await ThreadService(session).delete(tenant_id, thread_id)
    live.thread_deleted(session, tenant_id, thread_id)
    return Response(status_code=204)


@router.post("/threads/{thread_id}/restore", response_model=ThreadRead, dependencies=[WriteScope])
async def restore_thread(
    thread_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, live: LiveDep
) -> ThreadRead:
    thread = await ThreadService(session).restore(tenant_id, thread_id)
    live.thread_updated(session, thread)
    return ThreadRead.model_validate(thread)


@router.get("/threads/{thread_id}/messages", response_model=Page[MessageRead], dependencies=[ReadScope])
async def list_messages(
    thread_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, page: PageDep, include_deleted: bool = False
) -> Page[MessageRead]:
    return await ThreadService(session).messages(tenant_id, thread_id, page, include_deleted=include_deleted)


@router.post(
    "/threads/{thread_id}/messages",
    status_code=201,
    response_model=Exchange,
    dependencies=[WriteScope],
    responses={200: {"content": {SSE: {}}, "description": "with Accept: text/event-stream"}, **ATTACHMENT_REFUSALS},
)
async def post_message(
    thread_id: uuid.UUID,
    data: MessageCreate,
    request: Request,
    tenant_id: TenantIdDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
):
    answers = AnswerService(runtime)
    turn = await answers.post(tenant_id, thread_id, data, _operator(principal))
    if wants_stream(request):
        streaming = StreamingAnswers(answers)
        stream = await streaming.open_stream(turn)
        return EventSourceResponse(
            streaming.events(turn, stream), ping=runtime.settings.sse_ping_seconds, status_code=200
        )
    reply = await answers.answer(turn)
    return Exchange(
        user_message=fresh_read(turn.user_message, turn.images),
        assistant_message=MessageRead.model_validate(reply) if reply else None,
    )


@router.get("/messages/{message_id}", response_model=MessageRead, dependencies=[ReadScope])
async def get_message(message_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep) -> MessageRead:
    """One message of a live thread of the caller's tenant (404 otherwise)."""
    message = await ThreadService(session).message(tenant_id, message_id)
    return (await message_reads(session, tenant_id, [message]))[0]


@router.patch(
    "/messages/{message_id}",
    response_model=MessageRead,
    dependencies=[WriteScope],
    responses={409: {"description": "only AI answers can be reviewed"}},
)
async def review_message(
    message_id: uuid.UUID,
    data: MessageReview,
    session: SessionDep,
    tenant_id: TenantIdDep,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
) -> MessageRead:
    tenant = await runtime.tenants.get(tenant_id)
    message = await ThreadService(session).review(
        tenant_id, message_id, data, tenant, _operator(principal), runtime.settings.message_max_chars
    )
    return MessageRead.model_validate(message)


@router.post(
    "/chat",
    response_model=ChatReply,
    dependencies=[WriteScope],
    responses={404: {"description": "the thread or assistant named in the body does not exist"}, **ATTACHMENT_REFUSALS},
)
async def chat(
    data: ChatRequest, tenant_id: TenantIdDep, runtime: RuntimeDep, principal: CurrentPrincipal
) -> ChatReply:
    """One call: a message in (new thread unless thread_id), the answer out."""
    answers = AnswerService(runtime)
    if data.thread_id is not None:
        message = MessageCreate(content=data.message, attachments=data.attachments)
        turn = await answers.post(tenant_id, data.thread_id, message, _operator(principal))
    else:
        new = ThreadCreate(
            assistant_id=data.assistant_id, sector=data.sector, message=data.message, attachments=data.attachments
        )
        _, turn = await answers.create_thread(tenant_id, new, _operator(principal), Owner.of(principal))
    reply = await answers.answer(turn)
    return ChatReply(
        thread_id=turn.thread.id,
        user_message_id=turn.user_message.id,
        message_id=reply.id if reply else None,
        reply=reply.content if reply else None,
        model=reply.model if reply else None,
    )
