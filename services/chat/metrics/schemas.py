"""Metrics answer."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel


class DayCount(BaseModel):
    day: date
    messages: int
    threads: int
    contacts: int
    ai_answers: int = 0
    human_answers: int = 0
    # Of the conversations whose first question was asked this day (null: none answered that day).
    first_response_median_seconds: float | None = None


class Approval(BaseModel):
    approved: int
    rejected: int
    pending: int
    approval_rate: float | None


class Tokens(BaseModel):
    requests: int
    tokens_in: int
    tokens_out: int


class MetricsRead(BaseModel):
    tenant_id: uuid.UUID | None
    all_tenants: bool
    date_from: date
    date_to: date
    unique_contacts: int
    threads: int
    messages_by_role: dict[str, int]
    ai_answers: int
    human_answers: int
    approval: Approval
    first_response_median_seconds: float | None
    first_response_p90_seconds: float | None
    tokens: Tokens
    per_day: list[DayCount]
    # all=true only: live tenants whose status is active (auth's count; null when auth could not say).
    active_tenants: int | None = None
