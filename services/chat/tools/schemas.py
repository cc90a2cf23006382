"""Tool schemas: an HTTP tool or a built-in on create; the read shape names the secret, never its value."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# OpenAI's function-name rule.
ToolName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
BUILTINS = ("search_knowledge", "handover_to_human")
CALL_STATUSES = ("ok", "error", "timeout", "refused")


class HttpToolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["http"] = "http"
    name: ToolName
    description: str = Field(default="", max_length=2000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    url: str = Field(min_length=1, max_length=2000)
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    timeout_seconds: float = Field(default=10.0, gt=0)
    secret_name: str | None = Field(default=None, min_length=1, max_length=100)


class BuiltinToolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["builtin"]
    name: Literal["search_knowledge", "handover_to_human"]
    description: str | None = Field(default=None, max_length=2000)


ToolCreate = Annotated[HttpToolCreate | BuiltinToolCreate, Field(discriminator="type")]


class ToolUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ToolName | None = None
    description: str | None = Field(default=None, max_length=2000)
    parameters: dict[str, Any] | None = None
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    method: Literal["POST", "PUT", "PATCH"] | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)
    secret_name: str | None = Field(default=None, max_length=100)


class ToolRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    assistant_id: uuid.UUID
    type: str
    name: str
    description: str
    parameters: dict[str, Any]
    url: str | None
    method: str
    timeout_seconds: float
    secret_name: str | None  # the name of a tenant secret; its value is never returned
    created_at: datetime
    updated_at: datetime


class ToolTest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolTestResult(BaseModel):
    status: str
    result: str
    latency_ms: int
