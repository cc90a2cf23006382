"""OpenAI-compatible API: POST /v1/chat/completions and GET /v1/models (a tenant's assistants)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from services.chat.assistants.repository import AssistantRepository
from services.chat.assistants.service import AssistantService
from services.chat.attachments.errors import ATTACHMENT_REFUSALS
from services.chat.openai_compat.schemas import CompletionRequest
from services.chat.openai_compat.service import CompletionService
from services.chat.runtime import RuntimeDep
from shared.auth import ReadScope, TenantIdDep, WriteScope
from shared.db import SessionDep
from shared.pagination import PageParams

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
MAX_MODELS = 200


@router.get("/models", dependencies=[ReadScope])
async def list_models(session: SessionDep, tenant_id: TenantIdDep) -> dict:
    first = await AssistantRepository(session).list(tenant_id, PageParams(limit=MAX_MODELS))
    return {
        "object": "list",
        "data": [
            {
                "id": str(a.id),
                "object": "model",
                "created": int(a.created_at.timestamp()),
                "owned_by": str(tenant_id),
                "name": a.name,
                "is_default": a.is_default,
            }
            for a in first.rows
        ],
    }


@router.post(
    "/chat/completions",
    dependencies=[WriteScope],
    responses={404: {"description": "`model` is no assistant of this tenant"}, **ATTACHMENT_REFUSALS},
)
async def chat_completions(req: CompletionRequest, tenant_id: TenantIdDep, runtime: RuntimeDep):
    """`model` is an assistant id or name ("default" picks the tenant's default assistant)."""
    # A short read of its own: no connection is held while the LLM answers.
    async with runtime.sessionmaker() as session:
        assistants = AssistantService(session)
        assistant = await assistants.repo.get_default(tenant_id) if req.model == "default" else None
        assistant = assistant or await assistants.find(tenant_id, req.model)
    tenant = await runtime.tenants.get(tenant_id)
    svc = CompletionService(runtime, tenant, assistant, req.model)
    if not req.stream:
        return await svc.complete(req)
    stream, knowledge, messages = await svc.open_stream(req)
    return StreamingResponse(
        svc.stream_chunks(req, stream, knowledge, messages),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
