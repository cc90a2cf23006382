"""One tool call: arguments checked against the schema first, then the tenant's endpoint (signed, egress-checked,
capped) or a built-in. Every failure is an outcome the model reads, never an exception for the customer."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import structlog
from sqlalchemy import update

from services.chat.llm.knowledge import SearchUnavailable
from services.chat.runtime import ChatRuntime
from services.chat.threads.models import Thread
from services.chat.tools.cache import ToolSpec
from services.chat.tools.kit import ToolKit
from services.chat.tools.validation import arguments_problem
from shared.egress import EgressRefused, ResponseTooLarge, read_capped

log = structlog.get_logger("tools")
SIGNATURE_HEADER = "X-Atende-Signature"


@dataclass(frozen=True)
class CallOutcome:
    status: str  # ok | error | timeout | refused
    result: str
    latency_ms: int = 0
    handover: bool = False


@dataclass(frozen=True)
class CallContext:
    """Where a call happens: the tenant, its conversation (None on the OpenAI-compatible API) and the call's key."""

    tenant_id: uuid.UUID
    thread_id: uuid.UUID | None
    idempotency_key: str
    secrets: dict[str, str]


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_arguments(raw: str | dict[str, Any] | None) -> tuple[Any, str | None]:
    """The model's arguments string as JSON (None and "" are {}), or why it is not JSON."""
    if isinstance(raw, dict):
        return raw, None
    if not raw:
        return {}, None
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError:
        return None, "arguments are not valid JSON"


class ToolRunner:
    def __init__(self, runtime: ChatRuntime, kit: ToolKit) -> None:
        self.rt = runtime
        self.kit = kit
        self.settings = kit.settings

    async def run(self, tool: ToolSpec | None, name: str, raw_arguments: Any, ctx: CallContext, budget: float):
        """The outcome of one call the model asked for; `budget`: seconds left for the whole loop."""
        started = time.perf_counter()
        outcome = await self._run(tool, name, raw_arguments, ctx, budget)
        return CallOutcome(
            outcome.status,
            outcome.result[: self.settings.tools_result_max_chars],
            int((time.perf_counter() - started) * 1000),
            outcome.handover,
        )

    async def try_out(self, tool: ToolSpec, arguments: dict[str, Any]) -> CallOutcome:
        """The console's "try it": an HTTP tool once, through the same checks; built-ins act on a conversation."""
        if tool.type != "http":
            return CallOutcome("error", "built-in tools run only inside a conversation")
        tenant = await self.rt.tenants.get(tool.tenant_id)
        ctx = CallContext(tool.tenant_id, None, f"test-{uuid.uuid4()}", tenant.secrets)
        return await self.run(tool, tool.name, arguments, ctx, self.settings.tools_timeout_max_seconds)

    async def _run(self, tool: ToolSpec | None, name: str, raw: Any, ctx: CallContext, budget: float) -> CallOutcome:
        if tool is None:
            return CallOutcome("error", f"there is no tool named {name[:64]}")
        arguments, problem = parse_arguments(raw)
        problem = problem or arguments_problem(tool.parameters, arguments)
        if problem:
            return CallOutcome("error", problem)
        if tool.type == "builtin":
            return await self._builtin(tool, arguments, ctx)
        return await self._http(tool, arguments, ctx, min(tool.timeout_seconds, max(budget, 0.1)))

    async def _http(self, tool: ToolSpec, arguments: dict[str, Any], ctx: CallContext, timeout: float) -> CallOutcome:
        try:
            body = orjson.dumps(arguments)
        except (TypeError, orjson.JSONEncodeError):
            return CallOutcome("error", "the arguments cannot be sent as JSON (a number out of range?)")
        headers = {"Content-Type": "application/json", "Idempotency-Key": ctx.idempotency_key}
        if tool.secret_name:
            secret = ctx.secrets.get(tool.secret_name)
            if not secret:
                return CallOutcome("refused", f"the tenant secret {tool.secret_name} is not set")
            headers[SIGNATURE_HEADER] = signature(body, secret)
        cap = self.settings.tools_response_max_bytes
        try:
            request = self.kit.http.build_request(
                tool.method, tool.url or "", content=body, headers=headers, timeout=timeout
            )
            response = await self.kit.http.send(request, stream=True)
            try:
                data, truncated = await read_capped(response, cap)
            finally:
                await response.aclose()
        except EgressRefused as exc:
            return CallOutcome("refused", f"the tool URL was refused: {exc}")
        except httpx.TimeoutException:
            return CallOutcome("timeout", f"the tool did not answer within {timeout:g} s")
        except ResponseTooLarge:
            return CallOutcome("error", f"the tool's answer is larger than {cap} bytes")
        except httpx.HTTPError as exc:
            log.info("tool_call_failed", tool=tool.name, error=type(exc).__name__)
            return CallOutcome("error", f"the tool could not be reached ({type(exc).__name__})")
        text = data.decode("utf-8", "replace") + (" [truncated]" if truncated else "")
        if response.is_redirect:
            return CallOutcome("error", f"the tool answered a redirect (HTTP {response.status_code}); not followed")
        if response.status_code >= 400:
            return CallOutcome("error", f"HTTP {response.status_code}: {text}")
        return CallOutcome("ok", text)

    async def _builtin(self, tool: ToolSpec, arguments: dict[str, Any], ctx: CallContext) -> CallOutcome:
        if tool.name == "search_knowledge":
            try:
                hits = await self.rt.search.search(
                    ctx.tenant_id,
                    str(arguments["query"]),
                    limit=self.rt.settings.knowledge_limit,
                    threshold=self.rt.settings.knowledge_threshold,
                    sources=("documents", "messages"),
                )
            except SearchUnavailable:
                return CallOutcome("error", "the knowledge search is unavailable")
            found = [{"text": h.text, "score": round(h.score, 3), "source": h.source} for h in hits]
            return CallOutcome("ok", orjson.dumps({"results": found}).decode())
        if tool.name == "handover_to_human":
            if ctx.thread_id is None:
                return CallOutcome("error", "there is no conversation to hand over here")
            async with self.rt.sessionmaker() as session, session.begin():
                await session.execute(
                    update(Thread)
                    .where(Thread.tenant_id == ctx.tenant_id, Thread.id == ctx.thread_id)
                    .values(ai_enabled=False, needs_human=True)
                )
            return CallOutcome("ok", "handed over: a human agent takes this conversation from here", handover=True)
        return CallOutcome("error", f"unknown built-in {tool.name}")
