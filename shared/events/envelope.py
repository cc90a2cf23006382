"""The one envelope every event on every stream carries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field


class Envelope(BaseModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    tenant_id: uuid.UUID | None = None
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    idempotency_key: str
    payload: dict[str, Any] = Field(default_factory=dict)

    def to_fields(self) -> dict[str, str]:
        """Redis stream fields: the envelope as one JSON value (plus the type for cheap filtering)."""
        return {"type": self.type, "envelope": orjson.dumps(self.model_dump(mode="json")).decode()}

    @classmethod
    def from_fields(cls, fields: dict[bytes | str, bytes | str]) -> Envelope:
        raw = fields.get(b"envelope", fields.get("envelope"))
        if raw is None:
            raise ValueError("stream entry has no 'envelope' field")
        return cls.model_validate(orjson.loads(raw))
