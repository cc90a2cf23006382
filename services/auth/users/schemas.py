"""User schemas."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


# Lower-cased; accepts internal domains such as demo.local that email-validator refuses.
Email = Annotated[str, AfterValidator(_email)]
Password = Annotated[str, Field(min_length=1, max_length=256)]


class UserCreate(BaseModel):
    email: Email
    password: Password
    full_name: str = Field("", max_length=200)
    tenant_name: str | None = Field(None, min_length=1, max_length=200)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    is_superuser: bool
    is_active: bool
    email_verified: bool = False
    created_at: datetime
    last_login_at: datetime | None = None


class MembershipBrief(BaseModel):
    tenant_id: uuid.UUID
    tenant_name: str
    tenant_slug: str
    role: str


class MeRead(UserRead):
    memberships: list[MembershipBrief]
    tenant_id: uuid.UUID | None = None
    role: str | None = None


class UserUpdate(BaseModel):
    is_active: bool | None = None
    is_superuser: bool | None = None
    full_name: str | None = Field(None, max_length=200)


class PasswordChange(BaseModel):
    current_password: Password
    new_password: Password
