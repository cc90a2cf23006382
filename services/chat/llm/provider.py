"""The LLM provider interface: a one-shot completion and a token stream, both OpenAI-shaped messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.errors import AppError, ServiceUnavailable

KNOWLEDGE_ONLY = "knowledge-only"


class LLMUnavailable(ServiceUnavailable):
    code = "llm_unavailable"
    title = "AI provider unavailable"


class LLMRejected(AppError):
    """The provider answered with a non-retryable error (bad key, unknown model, bad request)."""

    status, code, title = 502, "llm_rejected", "AI provider refused the request"


@dataclass(frozen=True)
class LLMConfig:
    """Where and what to ask: the tenant's choice, else the platform's."""

    base_url: str
    api_key: str = field(repr=False)
    model: str
    tenant_url: bool = False  # the tenant's own server: a refusal names the tenant key it may be missing

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)


@dataclass
class Completion:
    content: str
    model: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    # The functions the model asked for (OpenAI's `tool_calls`: [{id, type, function: {name, arguments}}]).
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ToolOffer:
    """The functions offered to the model (OpenAI `tools`) and its `tool_choice`, when any."""

    definitions: list[dict[str, Any]]
    choice: Any = None


Tools = ToolOffer | None


class LLMStream(Protocol):
    model: str
    tokens_in: int | None
    tokens_out: int | None
    tool_calls: list[dict[str, Any]]  # complete once the stream is read to its end

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class LLMProvider(Protocol):
    async def complete(
        self, config: LLMConfig, messages: list[dict[str, Any]], *, temperature: float | None, tools: Tools = None
    ) -> Completion: ...

    async def stream(
        self, config: LLMConfig, messages: list[dict[str, Any]], *, temperature: float | None, tools: Tools = None
    ) -> LLMStream: ...
