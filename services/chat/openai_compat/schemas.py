"""The OpenAI chat-completions request, as OpenAI clients send it (unknown fields are ignored, like OpenAI)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str = Field(max_length=20)
    content: str | list[dict[str, Any]] | None = None
    # a client's own tools: the model's calls (assistant) and the client's results (tool)
    tool_calls: list[dict[str, Any]] | None = Field(default=None, max_length=64)
    tool_call_id: str | None = Field(default=None, max_length=200)

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return ""


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=200)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream_options: dict[str, Any] | None = None
    # The client's own functions (OpenAI `tools`): the model's calls to them come back to the client.
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=64)
    tool_choice: str | dict[str, Any] | None = None

    def client_tools(self) -> list[dict[str, Any]]:
        return [t for t in self.tools or () if t.get("type") == "function" and isinstance(t.get("function"), dict)]

    def has_tool_turns(self) -> bool:
        return any(m.role == "tool" or m.tool_calls for m in self.messages)
