"""API key schemas; the key itself appears only in ApiKeyCreated."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Scope = Literal["read", "write", "admin"]


def _unique(scopes: list[str]) -> list[str]:
    return sorted(set(scopes), key=["read", "write", "admin"].index)


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3), AfterValidator(_unique)]
    expires_at: datetime | None = None


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    tenant_id: uuid.UUID
    created_by: uuid.UUID | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    key: str
