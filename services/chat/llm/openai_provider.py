"""Any OpenAI-compatible endpoint through the `openai` SDK; one client per (base URL, key), built on first use.

Requests go through the SDK's generic `client.post("/chat/completions", ...)` (its retries with backoff,
timeouts, auth header, error classes and SSE decoding) with a plain dict body and `cast_to=object`, rather than
`chat.completions.create`: `create` first runs the body through the SDK's TypedDict transform (CPU on the
time-to-first-token path) and builds a pydantic model for every stream chunk. Our bodies are plain role/content
strings, which that transform returns unchanged, and we read three fields of each chunk.
Measurements: docs/benchmarks/chat.md.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import openai
import structlog
from openai import AsyncStream

from services.chat.llm.provider import Completion, LLMConfig, LLMRejected, LLMUnavailable, Tools

log = structlog.get_logger("llm")
_MAX_CLIENTS = 256
# The key some local servers (Ollama, llama.cpp) want even though they ignore it.
_NO_KEY = "not-needed"
_PATH = "/chat/completions"
_OPTIONS: Any = {"security": {"bearer_auth": True}}  # as `create` sends it: the API key as a Bearer token


class OpenAIProvider:
    """Retries with backoff on 429/5xx/timeouts are the SDK's own (`max_retries`, honouring Retry-After)."""

    def __init__(self, *, timeout: float, max_retries: int, max_tokens: int, transport: str = "aiohttp") -> None:
        self.timeout = timeout
        self.transport = transport
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self._clients: OrderedDict[tuple[str, str], openai.AsyncOpenAI] = OrderedDict()

    def client(self, config: LLMConfig) -> openai.AsyncOpenAI:
        key = (config.base_url, config.api_key)
        client = self._clients.get(key)
        if client is None:
            client = openai.AsyncOpenAI(
                base_url=config.base_url or None,
                api_key=config.api_key or _NO_KEY,
                timeout=self.timeout,
                max_retries=self.max_retries,
                # The SDK's own aiohttp transport (openai[aiohttp]): the same requests, retries and errors, with
                # less CPU per call than httpx's pure-Python connection handling; None = the SDK's httpx client.
                http_client=openai.DefaultAioHttpClient() if self.transport == "aiohttp" else None,
            )
            self._clients[key] = client
            if len(self._clients) > _MAX_CLIENTS:
                self._clients.popitem(last=False)  # its connections close when it is collected
        else:
            self._clients.move_to_end(key)
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def complete(
        self, config: LLMConfig, messages: list[dict[str, Any]], *, temperature: float | None, tools: Tools = None
    ):
        body = {"model": config.model, "messages": messages, **self._params(temperature, tools)}
        try:
            resp = await self.client(config).post(_PATH, body=body, cast_to=object, options=_OPTIONS)
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc, config) from None
        resp = resp if isinstance(resp, dict) else {}
        choices = resp.get("choices") or ()
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else None
        return Completion(
            content=str(message.get("content") or ""),
            model=str(resp.get("model") or config.model),
            tokens_in=usage.get("prompt_tokens") if usage else None,
            tokens_out=usage.get("completion_tokens") if usage else None,
            tool_calls=[c for c in message.get("tool_calls") or () if isinstance(c, dict)],
        )

    async def stream(
        self, config: LLMConfig, messages: list[dict[str, Any]], *, temperature: float | None, tools: Tools = None
    ):
        """Opens the stream (errors before the first token surface here, as 503/502) and returns it."""
        body = {
            "model": config.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            **self._params(temperature, tools),
        }
        try:
            raw = await self.client(config).post(
                _PATH, body=body, cast_to=object, options=_OPTIONS, stream=True, stream_cls=AsyncStream[object]
            )
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc, config) from None
        return _OpenAIStream(raw, config.model)

    def _params(self, temperature: float | None, tools: Tools = None) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": self.max_tokens}
        if temperature is not None:
            params["temperature"] = temperature
        if tools is not None and tools.definitions:
            params["tools"] = tools.definitions
            if tools.choice is not None:
                params["tool_choice"] = tools.choice
        return params


class _OpenAIStream:
    def __init__(self, raw, model: str) -> None:
        self.raw = raw
        self.model = model
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.tool_calls: list[dict[str, Any]] = []

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            async for chunk in self.raw:  # the chunks as sent, decoded (an in-stream `error` raises APIError)
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("model"):
                    self.model = str(chunk["model"])
                usage = chunk.get("usage")
                if isinstance(usage, dict):
                    self.tokens_in = usage.get("prompt_tokens")
                    self.tokens_out = usage.get("completion_tokens")
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") if isinstance(choice, dict) else None
                    content = delta.get("content") if isinstance(delta, dict) else None
                    if content:
                        yield str(content)
                    if isinstance(delta, dict) and delta.get("tool_calls"):
                        _merge_tool_calls(self.tool_calls, delta["tool_calls"])
        except (openai.APIError, openai.APIConnectionError) as exc:
            raise _translate(exc) from None

    async def aclose(self) -> None:
        await self.raw.close()


def _merge_tool_calls(calls: list[dict[str, Any]], deltas: list[Any]) -> None:
    """Streamed tool calls arrive in pieces by `index`: the first names it, the rest extend its arguments."""
    for d in deltas:
        if not isinstance(d, dict):
            continue
        index = int(d.get("index") or 0)
        while len(calls) <= index:
            calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call = calls[index]
        call["id"] = d.get("id") or call["id"]
        fn = d.get("function") if isinstance(d.get("function"), dict) else {}
        call["function"]["name"] += str(fn.get("name") or "")
        call["function"]["arguments"] += str(fn.get("arguments") or "")


def _translate(exc: Exception, config: LLMConfig | None = None) -> Exception:
    """SDK errors after its retries: down/overloaded -> 503, refused -> 502. Never includes the key."""
    if isinstance(exc, openai.APITimeoutError):
        return LLMUnavailable("the AI provider did not answer in time; please try again")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailable("the AI provider cannot be reached; please try again")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429 or exc.status_code >= 500:
            log.warning("llm_unavailable", status=exc.status_code)
            return LLMUnavailable(
                f"the AI provider is unavailable (HTTP {exc.status_code}); please try again",
                headers={"Retry-After": "5"},
            )
        log.warning("llm_rejected", status=exc.status_code)
        if exc.status_code in (401, 403) and config is not None and config.tenant_url and not config.api_key:
            return LLMRejected(
                f"the tenant's own AI server (llm_base_url) refused the request (HTTP {exc.status_code}): it gets "
                "the tenant's key or none, never the platform's; set the tenant secret 'llm_api_key'"
            )
        return LLMRejected(f"the AI provider refused the request (HTTP {exc.status_code})")
    return exc
