"""OpenAI-compatible completions against a tenant's assistant: same prompt, knowledge and provider as threads;
nothing is stored but the token usage (the client owns the conversation)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson

from services.chat.assistants.models import Assistant
from services.chat.attachments.client_images import image_urls, with_client_images
from services.chat.context.builder import (
    ConversationFacts,
    HistoryMessage,
    build_messages,
    select_history,
    system_prompt,
)
from services.chat.llm.knowledge import SearchUnavailable, handover_reply
from services.chat.llm.provider import KNOWLEDGE_ONLY, Completion, LLMStream
from services.chat.metrics.usage import Usage, record_usage
from services.chat.openai_compat.schemas import CompletionRequest
from services.chat.runtime import ChatRuntime
from services.chat.tenants.settings import TenantSettings
from services.chat.threads.errors import MessageTooLong
from services.chat.tools.cache import ToolSpec, assistant_tools
from services.chat.tools.loop import LoopRequest, ToolLoop
from shared.errors import Unprocessable


class CompletionService:
    def __init__(self, runtime: ChatRuntime, tenant: TenantSettings, assistant: Assistant, model_name: str) -> None:
        self.rt = runtime
        self._model_name = model_name
        self.settings = runtime.settings
        self.tenant = tenant
        self.assistant = assistant
        self.config = runtime.llm_config(tenant, assistant)
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.server_tools: tuple[ToolSpec, ...] = ()
        self.loop: ToolLoop | None = None

    async def build(self, req: CompletionRequest) -> tuple[list[dict[str, Any]], list[str]]:
        extra_system: list[str] = []
        pairs: list[tuple[HistoryMessage, list[str]]] = []
        raw: list[dict[str, Any]] = []  # the conversation as sent, for a client running its own tools
        for m in req.messages:
            text = m.text()
            if len(text) > self.settings.message_max_chars:
                raise MessageTooLong(f"a message is longer than {self.settings.message_max_chars} characters")
            images = image_urls(m.content) if m.role == "user" else []
            if m.role in ("system", "developer"):
                extra_system.append(text)
            elif m.role in ("user", "assistant") and (text or images):
                pairs.append((HistoryMessage(role=m.role, content=text), images))
            if m.role == "tool":
                raw.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": text})
            elif m.role == "assistant" and m.tool_calls:
                raw.append({"role": "assistant", "content": text or None, "tool_calls": m.tool_calls})
            elif m.role in ("user", "assistant") and text:
                raw.append({"role": m.role, "content": text})
        history = await with_client_images(
            pairs, self.rt.intake, vision=self.assistant.vision, max_images=self.settings.context_max_images
        )
        tool_turns = req.has_tool_turns()
        users = [h.content for h in history if h.role == "user"]
        if not users or (not tool_turns and history[-1].role != "user"):
            raise Unprocessable("messages must end with a user message")
        knowledge: list[str] = []
        if (self.assistant.use_knowledge or not self.config.configured) and users[-1].strip():
            try:
                hits = await self.rt.search.search(
                    self.tenant.tenant_id,
                    users[-1],
                    limit=self.settings.knowledge_limit,
                    threshold=self.settings.knowledge_threshold,
                )
                knowledge = [h.text for h in hits if h.score >= self.settings.knowledge_threshold]
            except SearchUnavailable:
                knowledge = []
        instructions = "\n\n".join([self.assistant.instructions, *extra_system]).strip()
        facts = ConversationFacts(contact_name=None, channel="api", timezone=self.tenant.timezone)
        system = system_prompt(self.tenant.system_prompt, instructions, knowledge, facts)
        if self.config.configured:
            self.server_tools = await assistant_tools(self.rt, self.rt.state.tools, self.assistant)
        if tool_turns:  # the client's calls and results must reach the model as they are, in order
            return [{"role": "system", "content": system}, *raw], knowledge
        chosen = select_history(
            list(reversed(history)),
            max_messages=self.settings.context_max_messages,
            token_budget=self.settings.context_token_budget,
            counter=self.rt.counter,
        )
        return build_messages(system, chosen), knowledge

    def _loop(self, req: CompletionRequest, messages: list[dict[str, Any]]) -> ToolLoop | None:
        """The tool loop when the assistant or the client has tools; nothing is recorded on this path."""
        if not self.server_tools and not req.client_tools():
            return None
        self.loop = ToolLoop(
            self.rt,
            self.rt.state.tools,
            LoopRequest(
                config=self.config,
                messages=messages,
                temperature=self._temperature(req),
                tools=self.server_tools,
                tenant_id=self.tenant.tenant_id,
                secrets=self.tenant.secrets,
                client_tools=req.client_tools(),
                tool_choice=req.tool_choice,
            ),
        )
        return self.loop

    def _knowledge_text(self, knowledge: list[str], req: CompletionRequest) -> str:
        if knowledge:
            return knowledge[0]
        question = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
        return handover_reply(self.settings.handover_message, self.tenant.locale, question)

    async def complete(self, req: CompletionRequest) -> dict[str, Any]:
        messages, knowledge = await self.build(req)
        calls: list[dict[str, Any]] = []
        loop = self._loop(req, messages) if self.config.configured else None
        if not self.config.configured:
            content, model, tin, tout = self._knowledge_text(knowledge, req), KNOWLEDGE_ONLY, 0, 0
        else:
            if loop is not None:
                end = await loop.complete()
                c = Completion(end.content, end.model, end.tokens_in, end.tokens_out)
                calls = end.client_calls
            else:
                c = await self.rt.llm.complete(self.config, messages, temperature=self._temperature(req))
            content, model = c.content, c.model
            tin = c.tokens_in if c.tokens_in is not None else self._count(messages)
            tout = c.tokens_out if c.tokens_out is not None else self.rt.counter.count(content)
            await self._usage(model, tin, tout)
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message = {"role": "assistant", "content": content or None, "tool_calls": calls}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": req.model,
            "system_fingerprint": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
        }

    async def open_stream(self, req: CompletionRequest) -> tuple[LLMStream | None, list[str], list[dict[str, Any]]]:
        messages, knowledge = await self.build(req)
        if not self.config.configured:
            return None, knowledge, messages
        loop = self._loop(req, messages)
        offer = loop.offer() if loop else None
        stream = await self.rt.llm.stream(self.config, messages, temperature=self._temperature(req), tools=offer)
        return stream, knowledge, messages

    async def stream_chunks(
        self, req: CompletionRequest, stream: LLMStream | None, knowledge: list[str], messages: list[dict[str, Any]]
    ) -> AsyncIterator[bytes]:
        include_usage = bool((req.stream_options or {}).get("include_usage"))
        yield self._chunk({"role": "assistant", "content": ""})
        pieces: list[str] = []
        calls: list[dict[str, Any]] = []
        if stream is None:
            pieces.append(self._knowledge_text(knowledge, req))
            yield self._chunk({"content": pieces[0]})
        else:
            loop = self.loop
            try:
                async for piece in loop.stream(stream, offered=True) if loop else stream:
                    if isinstance(piece, str):  # server-side tool events stay inside
                        pieces.append(piece)
                        yield self._chunk({"content": piece})
                if loop is not None:
                    stream = loop.final
                    calls = [c for c in stream.tool_calls if c["function"]["name"] in loop.client_names]
            finally:
                with anyio.CancelScope(shield=True):
                    tin = stream.tokens_in if stream.tokens_in is not None else self._count(messages)
                    tout = (
                        stream.tokens_out if stream.tokens_out is not None else self.rt.counter.count("".join(pieces))
                    )
                    if loop is not None:
                        tin, tout = loop.tokens_in or tin, loop.tokens_out or tout
                    await self._usage(stream.model, tin, tout)
        for i, c in enumerate(calls):
            yield self._chunk({"tool_calls": [{"index": i, **c}]})
        yield self._chunk({}, finish="tool_calls" if calls else "stop")
        if include_usage:
            tin = (stream.tokens_in if stream else 0) or 0
            tout = (stream.tokens_out if stream else 0) or 0
            usage = {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}
            yield _sse(
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self._model_name,
                    "choices": [],
                    "usage": usage,
                }
            )
        yield b"data: [DONE]\n\n"

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self._model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    def _temperature(self, req: CompletionRequest) -> float | None:
        return req.temperature if req.temperature is not None else self.assistant.temperature

    def _count(self, messages: list[dict[str, Any]]) -> int:
        def text(content: Any) -> str:  # image parts are not counted (as in the context's token budget)
            return content if isinstance(content, str) else " ".join(str(p.get("text", "")) for p in content)

        return sum(self.rt.counter.count(text(m["content"])) + 4 for m in messages)

    async def _usage(self, model: str, tokens_in: int, tokens_out: int) -> None:
        async with self.rt.sessionmaker() as session, session.begin():
            await record_usage(session, Usage(self.tenant.tenant_id, model, tokens_in, tokens_out))


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"
