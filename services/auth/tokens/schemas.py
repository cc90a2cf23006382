"""Token request and answer schemas."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from services.auth.users.schemas import Email, Password


class LoginRequest(BaseModel):
    email: Email
    password: Password
    tenant_id: uuid.UUID | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    tenant_id: uuid.UUID | None = None
    role: str | None = None


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class SwitchTenantRequest(BaseModel):
    tenant_id: uuid.UUID


class ServiceTokenRequest(BaseModel):
    service: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,40}$")
    secret: str = Field(min_length=1, max_length=500)


class ServiceToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class ExchangeRequest(BaseModel):
    api_key: str = Field(min_length=1, max_length=200)


class ExchangedToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    tenant_id: uuid.UUID
    scopes: list[str]
    key_id: uuid.UUID
