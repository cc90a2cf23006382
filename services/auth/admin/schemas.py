"""Ops-log entries as read from the capped `ops.logs` stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

Level = Literal["warning", "error"]


class LogEntry(BaseModel):
    id: str
    at: datetime
    level: str
    service: str
    tenant_id: str | None
    event: str
    data: dict[str, Any]
