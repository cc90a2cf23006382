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

    @staticmethod
    def raw_fields(
        *,
        id: uuid.UUID,  # noqa: A002 - the envelope's field
        type: str,  # noqa: A002 - the envelope's field
        tenant_id: uuid.UUID | None,
        occurred_at: datetime,
        idempotency_key: str,
        payload_json: str,
    ) -> dict[str, str]:
        """`to_fields` of the envelope with these values, from a payload already serialised (a hot path that wrote
        the same JSON into its outbox row): no model is built, and the payload is not parsed or dumped again."""
        envelope = {
            "id": str(id),
            "type": type,
            "tenant_id": str(tenant_id) if tenant_id is not None else None,
            "occurred_at": occurred_at.isoformat(),
            "idempotency_key": idempotency_key,
            "payload": orjson.Fragment(payload_json),
        }
        return {"type": type, "envelope": orjson.dumps(envelope).decode()}

    @classmethod
    def from_fields(cls, fields: dict[bytes | str, bytes | str]) -> Envelope:
        raw = fields.get(b"envelope", fields.get("envelope"))
        if raw is None:
            raise ValueError("stream entry has no 'envelope' field")
        return cls.model_validate(orjson.loads(raw))
