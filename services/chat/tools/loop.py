"""The tool loop: while the model asks for tools, run them (in parallel within a round), hand the results back and
ask again; at most CHAT_TOOLS_MAX_ROUNDS rounds within CHAT_TOOLS_TIME_BUDGET_SECONDS, after which the model is
asked without tools, so it must answer. A client's own tools (the OpenAI-compatible API) are not run here: a round
that calls one ends the loop and goes back to the client."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from services.chat.llm.provider import Completion, LLMConfig, LLMStream, ToolOffer
from services.chat.runtime import ChatRuntime
from services.chat.tools.cache import ToolSpec
from services.chat.tools.kit import ToolKit
from services.chat.tools.records import CallRecords, CallScope, NewCall
from services.chat.tools.runner import CallContext, CallOutcome, ToolRunner, parse_arguments

log = structlog.get_logger("tools")
HANDOVER = "handover_to_human"


@dataclass(frozen=True)
class ToolEvent:
    """`tool_call` (before it runs) or `tool_result`, for the SSE stream."""

    event: str
    data: dict[str, Any]


@dataclass
class LoopRequest:
    config: LLMConfig
    messages: list[dict[str, Any]]  # the conversation; each round's calls and results are appended
    temperature: float | None
    tools: tuple[ToolSpec, ...]
    tenant_id: uuid.UUID
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    scope: CallScope | None = None  # None: calls are not recorded (nothing is stored on that path)
    client_tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None


@dataclass
class LoopEnd:
    content: str
    model: str
    tokens_in: int | None
    tokens_out: int | None
    rounds: int
    handover: bool = False
    client_calls: list[dict[str, Any]] = field(default_factory=list)


class ToolLoop:
    def __init__(self, runtime: ChatRuntime, kit: ToolKit, req: LoopRequest) -> None:
        self.rt = runtime
        self.req = req
        self.settings = kit.settings
        self.runner = ToolRunner(runtime, kit)
        self.records = CallRecords(runtime)
        self.by_name = {t.name: t for t in req.tools}
        self.client_names = {str((d.get("function") or {}).get("name")) for d in req.client_tools}
        self.deadline = time.monotonic() + self.settings.tools_time_budget_seconds
        self.rounds = 0
        self.handover = False
        self.tokens_in = 0
        self.tokens_out = 0
        self._loop_id = uuid.uuid4().hex

    def offer(self) -> ToolOffer | None:
        """What the next LLM call may call: none once the rounds or the time are spent, or a human took over."""
        if self.rounds >= self.settings.tools_max_rounds or time.monotonic() >= self.deadline or self.handover:
            return None
        definitions = [t.openai() for t in self.req.tools] + list(self.req.client_tools)
        if not definitions:
            return None
        return ToolOffer(definitions, self.req.tool_choice if self.rounds == 0 else None)

    async def complete(self) -> LoopEnd:
        """Non-streaming: rounds until the model answers."""
        while True:
            offer = self.offer()
            done = await self.rt.llm.complete(
                self.req.config, self.req.messages, temperature=self.req.temperature, tools=offer
            )
            self._count(done.tokens_in, done.tokens_out)
            calls = done.tool_calls if offer is not None else []
            if not calls or self._client_calls(calls):
                return self._end(done, calls)
            async for _ in self.round(done.content, calls):
                pass

    async def stream(self, first: LLMStream, offered: bool) -> AsyncIterator[str | ToolEvent]:
        """Streaming: the deltas of every round as they come, and each round's tool events; `self.final` is the last
        stream (its model and usage) once this ends."""
        current = first
        while True:
            async for piece in current:
                yield piece
            self._count(current.tokens_in, current.tokens_out)
            calls = current.tool_calls if offered else []
            if not calls or self._client_calls(calls):
                self.final = current
                return
            async for event in self.round("", calls):
                yield event
            offer = self.offer()
            offered = offer is not None
            current = await self.rt.llm.stream(
                self.req.config, self.req.messages, temperature=self.req.temperature, tools=offer
            )

    async def round(self, content: str, calls: list[dict[str, Any]]) -> AsyncIterator[ToolEvent]:
        """One round: every call announced, run together, their results appended for the model."""
        calls = [_normal(c, self.rounds, i) for i, c in enumerate(calls)]
        self.req.messages.append({"role": "assistant", "content": content or None, "tool_calls": calls})
        for c in calls:
            yield ToolEvent("tool_call", {"id": c["id"], "name": c["function"]["name"], "arguments": _args(c)})
        records = [self._record(i, c) for i, c in enumerate(calls)]
        scope = self.req.scope
        prior = await self.records.begin(scope, records) if scope is not None else {}
        outcomes = await asyncio.gather(
            *(self._call(c, r, prior.get(r.key)) for c, r in zip(calls, records, strict=True))
        )
        for c, outcome in zip(calls, outcomes, strict=True):
            self.req.messages.append({"role": "tool", "tool_call_id": c["id"], "content": _for_model(outcome)})
            if c["function"]["name"] == HANDOVER and outcome.status == "ok":
                self.handover = True
            yield ToolEvent(
                "tool_result",
                {
                    "id": c["id"],
                    "name": c["function"]["name"],
                    "status": outcome.status,
                    "result": outcome.result,
                    "latency_ms": outcome.latency_ms,
                },
            )
        self.rounds += 1

    def _record(self, index: int, call: dict[str, Any]) -> NewCall:
        scope = self.req.scope
        key = scope.key(self.rounds, index) if scope else f"{self._loop_id}:{self.rounds}:{index}"
        parsed, problem = parse_arguments(call["function"]["arguments"])
        stored = parsed if problem is None else {"_raw": str(call["function"]["arguments"])[:2000]}
        return NewCall(key, call["id"], call["function"]["name"], stored)

    async def _call(self, call: dict[str, Any], record: NewCall, prior: CallOutcome | None) -> CallOutcome:
        """One call, unless an earlier attempt of this answer recorded it (then its outcome, never a second call)."""
        if prior is not None:
            return prior
        name = call["function"]["name"]
        scope = self.req.scope
        ctx = CallContext(self.req.tenant_id, scope.thread_id if scope else None, record.key, self.req.secrets)
        try:
            outcome = await self.runner.run(
                self.by_name.get(name), name, call["function"]["arguments"], ctx, self.deadline - time.monotonic()
            )
        except Exception as exc:  # noqa: BLE001 - a broken tool is the model's error result, not the customer's
            log.warning("tool_call_crashed", tool=name, error=type(exc).__name__)
            outcome = CallOutcome("error", "the tool failed")
        if scope is not None:
            await self.records.finish(scope, record.key, outcome)
        return outcome

    def _client_calls(self, calls: list[dict[str, Any]]) -> bool:
        return any(str((c.get("function") or {}).get("name")) in self.client_names for c in calls)

    def _count(self, tokens_in: int | None, tokens_out: int | None) -> None:
        self.tokens_in += tokens_in or 0
        self.tokens_out += tokens_out or 0

    def _end(self, done: Completion, calls: list[dict[str, Any]]) -> LoopEnd:
        client = [c for c in calls if str((c.get("function") or {}).get("name")) in self.client_names]
        return LoopEnd(
            content=done.content,
            model=done.model,
            tokens_in=self.tokens_in or done.tokens_in,
            tokens_out=self.tokens_out or done.tokens_out,
            rounds=self.rounds,
            handover=self.handover,
            client_calls=client,
        )


def _normal(call: dict[str, Any], round_no: int, index: int) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call.get("function"), dict) else {}
    return {
        "id": str(call.get("id") or f"call_{round_no}_{index}"),
        "type": "function",
        "function": {"name": str(fn.get("name") or ""), "arguments": str(fn.get("arguments") or "")},
    }


def _args(call: dict[str, Any]) -> Any:
    parsed, problem = parse_arguments(call["function"]["arguments"])
    return parsed if problem is None else call["function"]["arguments"]


def _for_model(outcome: CallOutcome) -> str:
    return outcome.result if outcome.status == "ok" else f"ERROR ({outcome.status}): {outcome.result}"
