"""Any OpenAI-compatible endpoint through the `openai` SDK; one client per (base URL, key), built on first use."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import openai
import structlog

from services.chat.llm.provider import Completion, LLMConfig, LLMRejected, LLMUnavailable

log = structlog.get_logger("llm")
_MAX_CLIENTS = 256
# The key some local servers (Ollama, llama.cpp) want even though they ignore it.
_NO_KEY = "not-needed"


class OpenAIProvider:
    """Retries with backoff on 429/5xx/timeouts are the SDK's own (`max_retries`, honouring Retry-After)."""

    def __init__(self, *, timeout: float, max_retries: int, max_tokens: int) -> None:
        self.timeout = timeout
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

    async def complete(self, config: LLMConfig, messages: list[dict[str, Any]], *, temperature: float | None):
        try:
            resp = await self.client(config).chat.completions.create(
                model=config.model, messages=messages, **self._params(temperature)
            )
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc) from None
        choice = resp.choices[0] if resp.choices else None
        usage = resp.usage
        return Completion(
            content=(choice.message.content or "") if choice else "",
            model=resp.model or config.model,
            tokens_in=usage.prompt_tokens if usage else None,
            tokens_out=usage.completion_tokens if usage else None,
        )

    async def stream(self, config: LLMConfig, messages: list[dict[str, Any]], *, temperature: float | None):
        """Opens the stream (errors before the first token surface here, as 503/502) and returns it."""
        try:
            raw = await self.client(config).chat.completions.create(
                model=config.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **self._params(temperature),
            )
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc) from None
        return _OpenAIStream(raw, config.model)

    def _params(self, temperature: float | None) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": self.max_tokens}
        if temperature is not None:
            params["temperature"] = temperature
        return params


class _OpenAIStream:
    def __init__(self, raw, model: str) -> None:
        self.raw = raw
        self.model = model
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            async for chunk in self.raw:
                if chunk.model:
                    self.model = chunk.model
                if chunk.usage is not None:
                    self.tokens_in = chunk.usage.prompt_tokens
                    self.tokens_out = chunk.usage.completion_tokens
                for choice in chunk.choices or ():
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content
        except (openai.APIError, openai.APIConnectionError) as exc:
            raise _translate(exc) from None

    async def aclose(self) -> None:
        await self.raw.close()


def _translate(exc: Exception) -> Exception:
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
        return LLMRejected(f"the AI provider refused the request (HTTP {exc.status_code})")
    return exc
