"""Tenant and tenant-secret schemas."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
Sector = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Locale = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")]


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _sectors(value: list[str]) -> list[str]:
    if len({s.lower() for s in value}) != len(value):
        raise ValueError("sectors must be unique")
    return value


Timezone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_timezone)]
Sectors = Annotated[list[Sector], Field(min_length=1, max_length=50), AfterValidator(_sectors)]


_HTTP_URL = TypeAdapter(HttpUrl)


def _url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(_HTTP_URL.validate_python(value)).rstrip("/")
    except ValidationError:
        raise ValueError("must be an http(s) URL") from None


LlmUrl = Annotated[str | None, StringConstraints(max_length=500), AfterValidator(_url)]


class TenantSettings(BaseModel):
    """Every settable field; optional so PATCH applies only what was sent."""

    name: str | None = Field(None, min_length=1, max_length=200)
    slug: Slug | None = None
    status: Literal["active", "inactive"] | None = None
    system_prompt: str | None = Field(None, max_length=20_000)
    default_model: str | None = Field(None, max_length=200)
    llm_base_url: LlmUrl = None
    require_approval: bool | None = None
    buffer_enabled: bool | None = None
    buffer_seconds: int | None = Field(None, ge=0, le=3600)
    buffer_max_wait_seconds: int | None = Field(None, ge=0, le=86_400)
    split_replies: bool | None = None
    locale: Locale | None = None
    timezone: Timezone | None = None
    sectors: Sectors | None = None


class TenantCreate(TenantSettings):
    name: str = Field(min_length=1, max_length=200)


class TenantUpdate(TenantSettings):
    pass


class TenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    status: str
    system_prompt: str
    default_model: str | None
    llm_base_url: str | None
    require_approval: bool
    buffer_enabled: bool
    buffer_seconds: int
    buffer_max_wait_seconds: int
    split_replies: bool
    locale: str
    timezone: str
    sectors: list[str]
    created_at: datetime
    updated_at: datetime


SecretName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


class SecretWrite(BaseModel):
    value: str = Field(min_length=1, max_length=8192)


class SecretRead(BaseModel):
    name: str
    is_set: bool
    last4: str | None
    updated_at: datetime | None


class TenantCounts(BaseModel):
    """Live tenants per status, platform-wide (GET /internal/v1/tenants/counts, for the platform dashboard)."""

    active: int
    inactive: int
