"""Verification schemas."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.auth.users.schemas import Password


class VerifyEmail(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    # Required for an invitation (or an account without a usable password): it becomes the account's password.
    password: Password | None = None
