"""Typed event contracts: a stream's name and the payload model of each event type on it, defined once.

Both are strings (`str` subclasses), so a contract goes wherever a stream or type name went (XADD, XREADGROUP,
`emit(stream=, type=)`, `envelope.type == ...`); the contract adds the DLQ's name and the payload's validation.
The contracts themselves live by area: shared/events/channels.py, chat.py, transcription.py, search.py, tenants.py,
auth_keys.py, ops.py (docs/events.md, "Contracts").
"""

from __future__ import annotations

import uuid
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.events.envelope import Envelope
from shared.events.errors import InvalidPayload

P = TypeVar("P", bound=BaseModel)


class Stream(str):
    """A Redis stream's name (versioned: `<area>.<what>.v1`); its dead letters go to `<name>.dlq`."""

    __slots__ = ()

    @property
    def dlq(self) -> str:
        return f"{self}.dlq"


class EventType(str, Generic[P]):
    """An event type (the envelope's `type`) on its stream, with the model its payload must satisfy."""

    stream: Stream
    payload: type[P]

    def __new__(cls, stream: Stream, name: str, payload: type[P]) -> EventType[P]:
        self = super().__new__(cls, name)
        self.stream = stream
        self.payload = payload
        return self

    def parse(self, envelope: Envelope) -> P:
        """The envelope's payload as this type's model; InvalidPayload (dead-lettered at once) if it does not fit."""
        try:
            return self.payload.model_validate(envelope.payload)
        except ValidationError as exc:
            errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in exc.errors()[:5])
            raise InvalidPayload(f"{self} payload refused: {errors}") from None

    def dump(self, payload: P, *, exclude_none: bool = False) -> dict[str, Any]:
        """The payload as it goes on the wire (JSON types); only this type's model is accepted."""
        if not isinstance(payload, self.payload):
            raise TypeError(f"{self} carries {self.payload.__name__}, not {type(payload).__name__}")
        return payload.model_dump(mode="json", exclude_none=exclude_none)

    def envelope(
        self, payload: P, *, idempotency_key: str, tenant_id: uuid.UUID | None, exclude_none: bool = False
    ) -> Envelope:
        """An envelope of this type (a direct publish, not through the outbox)."""
        return Envelope(
            type=self,
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            payload=self.dump(payload, exclude_none=exclude_none),
        )
