"""The tool loop on the answering paths (services/chat/threads/answers.py, streaming.py, the flusher): a turn's tools
and the loop that serves it."""

from __future__ import annotations

from typing import Any

from services.chat.runtime import ChatRuntime
from services.chat.tools.cache import ToolSpec, assistant_tools
from services.chat.tools.loop import LoopRequest, ToolLoop
from services.chat.tools.records import CallScope


async def turn_tools(runtime: ChatRuntime, turn: Any) -> tuple[ToolSpec, ...]:
    kit = getattr(runtime.state, "tools", None)
    if kit is None or turn.assistant is None:
        return ()
    return await assistant_tools(runtime, kit, turn.assistant)


def turn_loop(runtime: ChatRuntime, turn: Any) -> ToolLoop:
    """The loop for one answer; its calls are recorded on the thread under the burst's key (channels) or the user
    message's id, so a retry of the same answer finds them."""
    thread = turn.thread
    scope = CallScope(
        tenant_id=thread.tenant_id,
        thread_id=thread.id,
        contact_id=thread.contact_id,
        sector=thread.sector,
        base=turn.batch_key or str(turn.user_message.id),
    )
    request = LoopRequest(
        config=turn.config,
        messages=turn.messages,
        temperature=turn.assistant.temperature if turn.assistant else None,
        tools=turn.tools,
        tenant_id=thread.tenant_id,
        secrets=turn.tenant.secrets,
        scope=scope,
    )
    return ToolLoop(runtime, runtime.state.tools, request)
