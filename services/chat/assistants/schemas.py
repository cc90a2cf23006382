"""Assistant schemas."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class AssistantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=20_000)
    model: str | None = Field(default=None, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    use_knowledge: bool = True
    is_default: bool = False
    vision: bool = False  # images go to the model as image inputs (the model must read them)


class AssistantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    instructions: str | None = Field(default=None, max_length=20_000)
    model: str | None = Field(default=None, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    use_knowledge: bool | None = None
    is_default: bool | None = None
    vision: bool | None = None


class AssistantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    instructions: str
    model: str | None
    temperature: float | None
    use_knowledge: bool
    is_default: bool
    vision: bool
    created_at: datetime
    updated_at: datetime
