"""SSE answers: the provider's stream relayed as it comes, then stored like any answer
(services/chat/threads/answers.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
import structlog

from services.chat.llm.provider import KNOWLEDGE_ONLY, LLMStream
from services.chat.threads.answers import AnswerService
from services.chat.threads.schemas import MessageRead
from services.chat.threads.turns import Answer, Turn
from services.chat.tools.answering import turn_loop
from services.chat.tools.loop import ToolEvent, ToolLoop
from shared.errors import AppError

log = structlog.get_logger("answers")


class StreamingAnswers:
    def __init__(self, answers: AnswerService) -> None:
        self.answers = answers
        self.rt = answers.rt

    async def open_stream(self, turn: Turn) -> LLMStream | None:
        """Start the provider's stream before any byte goes to the client, so a dead provider is a clean 503."""
        if not turn.needs_answer or turn.mode == KNOWLEDGE_ONLY:
            return None
        temp = turn.assistant.temperature if turn.assistant else None
        if turn.tools:
            turn.loop = turn_loop(self.rt, turn)
            offer = turn.loop.offer()
            return await self.rt.llm.stream(turn.config, turn.messages, temperature=temp, tools=offer)
        return await self.rt.llm.stream(turn.config, turn.messages, temperature=temp)

    async def events(self, turn: Turn, stream: LLMStream | None) -> AsyncIterator[dict[str, str]]:
        """SSE events: `start` (the stored user message), `tool_call`/`tool_result` per tool call, `delta`s, then
        `done` with the stored answer. A client that goes away mid-stream still gets what was generated stored,
        marked incomplete."""
        yield {"event": "start", "data": _json({"user_message": MessageRead.model_validate(turn.user_message)})}
        if not turn.needs_answer:
            yield {"event": "done", "data": "null"}
            return
        if stream is None:
            answer = self.answers.knowledge_answer(turn)
            yield {"event": "delta", "data": _json({"content": answer.content})}
            stored = await self.answers.store_answer(turn, answer)
            yield {"event": "done", "data": _json(MessageRead.model_validate(stored))}
            return
        pieces: list[str] = []
        started = time.perf_counter()
        finished = False
        loop: ToolLoop | None = turn.loop
        try:
            async for piece in loop.stream(stream, offered=True) if loop else stream:
                if isinstance(piece, ToolEvent):
                    yield {"event": piece.event, "data": _json(piece.data)}
                    continue
                pieces.append(piece)
                yield {"event": "delta", "data": _json({"content": piece})}
            finished = True
            stream = loop.final if loop else stream
        except AppError as exc:
            log.warning("llm_stream_broken", error=exc.code)
            yield {"event": "error", "data": _json({"status": exc.status, "code": exc.code, "detail": exc.detail})}
        finally:
            if not finished:
                # Cancelled (client gone) or broken: keep what was generated, in a scope the cancel cannot reach.
                with anyio.CancelScope(shield=True):
                    await _quiet_close(stream)
                    if pieces:
                        answer = self._streamed(turn, stream, pieces, started, incomplete=True)
                        await self.answers.store_answer(turn, answer)
        if not finished:
            return
        answer = self._streamed(turn, stream, pieces, started, incomplete=False)
        if loop is not None:
            answer.handover = loop.handover
            answer.tokens_in = loop.tokens_in or answer.tokens_in
            answer.tokens_out = loop.tokens_out or answer.tokens_out
        stored = await self.answers.store_answer(turn, answer)
        yield {"event": "done", "data": _json(MessageRead.model_validate(stored))}

    def _streamed(self, turn: Turn, stream: LLMStream, pieces: list[str], started: float, *, incomplete: bool):
        content = "".join(pieces)
        tokens_in = stream.tokens_in
        tokens_out = stream.tokens_out
        if tokens_in is None:
            tokens_in = sum(self.rt.counter.count(str(m["content"])) + 4 for m in turn.messages)
        if tokens_out is None or incomplete:
            tokens_out = self.rt.counter.count(content) if content else 0
        return Answer(
            content=content,
            model=stream.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=int((time.perf_counter() - started) * 1000),
            incomplete=incomplete,
        )


async def _quiet_close(stream: LLMStream) -> None:
    try:
        await stream.aclose()
    except Exception:  # noqa: BLE001, S110 - closing a broken stream may fail; nothing to do
        pass


def _json(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, dict):
        value = {k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v) for k, v in value.items()}
    return orjson.dumps(value).decode()
