"""Membership schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.auth.users.schemas import Email, Password

Role = Literal["admin", "agent", "viewer"]


class MemberCreate(BaseModel):
    email: Email
    role: Role
    full_name: str | None = Field(None, max_length=200)
    password: Password | None = None


class MemberUpdate(BaseModel):
    role: Role


class MemberRead(BaseModel):
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    full_name: str
    role: str
    is_active: bool
    created_at: datetime
