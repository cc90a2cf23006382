"""GET /api/v1/events: the console's live feed (SSE) of the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse

from services.chat.live.feed import LiveFeed, resume_from
from services.chat.runtime import RuntimeDep
from shared.auth import ReadScope, TenantIdDep

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get(
    "/events",
    dependencies=[ReadScope],
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "message.created, thread.updated, "
            "buffer.updated of the caller's tenant; `id:` resumes with Last-Event-ID",
        }
    },
)
async def live_events(
    request: Request,
    tenant_id: TenantIdDep,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    feed = LiveFeed(request.app.state.redis, tenant_id, resume_from(last_event_id))
    return EventSourceResponse(feed.events(), ping=runtime.settings.sse_ping_seconds)
