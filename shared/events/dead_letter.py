"""Dead-lettering: an entry that can never succeed goes to `<stream>.dlq` with its error, then is acked."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from shared.events.consumer_settings import ConsumerSettings
from shared.logging import get_logger

log = get_logger("events.consumer")


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def dead_letter(redis, settings: ConsumerSettings, eid: str, fields: dict, error: str, deliveries: int) -> None:
    """XADD the entry to the DLQ (the original envelope JSON, or its raw fields if it had none), then XACK it."""
    raw = fields.get(b"envelope", fields.get("envelope"))
    if raw is None:
        raw = orjson.dumps({_s(k): _s(v) for k, v in fields.items()})
    entry = {
        "envelope": _s(raw),
        "error": error[:4000],
        "stream": settings.stream,
        "group": settings.group,
        "consumer": settings.consumer_name,
        "entry_id": eid,
        "attempts": str(deliveries),
        "failed_at": datetime.now(UTC).isoformat(),
    }
    await redis.xadd(settings.dlq, entry, maxlen=settings.dlq_maxlen, approximate=True)
    await redis.xack(settings.stream, settings.group, eid)
    log.error("event_dead_lettered", stream=settings.stream, group=settings.group, entry_id=eid, error=error[:300])
