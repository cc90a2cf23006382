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
from services.chat.llm.provider import KNOWLEDGE_ONLY, LLMStream
from services.chat.metrics.usage import Usage, record_usage
from services.chat.openai_compat.schemas import CompletionRequest
from services.chat.runtime import ChatRuntime
from services.chat.tenants.settings import TenantSettings
from services.chat.threads.errors import MessageTooLong
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

    async def build(self, req: CompletionRequest) -> tuple[list[dict[str, Any]], list[str]]:
        extra_system: list[str] = []
        turns: list[tuple[HistoryMessage, list[str]]] = []
        for m in req.messages:
            text = m.text()
            if len(text) > self.settings.message_max_chars:
                raise MessageTooLong(f"a message is longer than {self.settings.message_max_chars} characters")
            images = image_urls(m.content) if m.role == "user" else []
            if m.role in ("system", "developer"):
                extra_system.append(text)
            elif m.role in ("user", "assistant") and (text or images):
                turns.append((HistoryMessage(role=m.role, content=text), images))
        history = await with_client_images(
            turns, self.rt.intake, vision=self.assistant.vision, max_images=self.settings.context_max_images
        )
        if not history or history[-1].role != "user":
            raise Unprocessable("messages must end with a user message")
        knowledge: list[str] = []
        if (self.assistant.use_knowledge or not self.config.configured) and history[-1].content.strip():
            try:
                hits = await self.rt.search.search(
                    self.tenant.tenant_id,
                    history[-1].content,
                    limit=self.settings.knowledge_limit,
                    threshold=self.settings.knowledge_threshold,
                )
                knowledge = [h.text for h in hits if h.score >= self.settings.knowledge_threshold]
            except SearchUnavailable:
                knowledge = []
        instructions = "\n\n".join([self.assistant.instructions, *extra_system]).strip()
        facts = ConversationFacts(contact_name=None, channel="api", timezone=self.tenant.timezone)
        chosen = select_history(
            list(reversed(history)),
            max_messages=self.settings.context_max_messages,
            token_budget=self.settings.context_token_budget,
            counter=self.rt.counter,
        )
        return build_messages(
            system_prompt(self.tenant.system_prompt, instructions, knowledge, facts), chosen
        ), knowledge

    def _knowledge_text(self, knowledge: list[str], req: CompletionRequest) -> str:
        if knowledge:
            return knowledge[0]
        question = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
        return handover_reply(self.settings.handover_message, self.tenant.locale, question)

    async def complete(self, req: CompletionRequest) -> dict[str, Any]:
        messages, knowledge = await self.build(req)
        if not self.config.configured:
            content, model, tin, tout = self._knowledge_text(knowledge, req), KNOWLEDGE_ONLY, 0, 0
        else:
            c = await self.rt.llm.complete(self.config, messages, temperature=self._temperature(req))
            content, model = c.content, c.model
            tin = c.tokens_in if c.tokens_in is not None else self._count(messages)
            tout = c.tokens_out if c.tokens_out is not None else self.rt.counter.count(content)
            await self._usage(model, tin, tout)
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": req.model,
            "system_fingerprint": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
        }

    async def open_stream(self, req: CompletionRequest) -> tuple[LLMStream | None, list[str], list[dict[str, Any]]]:
        messages, knowledge = await self.build(req)
        if not self.config.configured:
            return None, knowledge, messages
        return await self.rt.llm.stream(self.config, messages, temperature=self._temperature(req)), knowledge, messages

    async def stream_chunks(
        self, req: CompletionRequest, stream: LLMStream | None, knowledge: list[str], messages: list[dict[str, Any]]
    ) -> AsyncIterator[bytes]:
        include_usage = bool((req.stream_options or {}).get("include_usage"))
        yield self._chunk({"role": "assistant", "content": ""})
        pieces: list[str] = []
        if stream is None:
            pieces.append(self._knowledge_text(knowledge, req))
            yield self._chunk({"content": pieces[0]})
        else:
            try:
                async for piece in stream:
                    pieces.append(piece)
                    yield self._chunk({"content": piece})
            finally:
                with anyio.CancelScope(shield=True):
                    tin = stream.tokens_in if stream.tokens_in is not None else self._count(messages)
                    tout = (
                        stream.tokens_out if stream.tokens_out is not None else self.rt.counter.count("".join(pieces))
                    )
                    await self._usage(stream.model, tin, tout)
        yield self._chunk({}, finish="stop")
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
