"""Recent warnings/errors from the capped `ops.logs` stream, newest first, filtered, bounded work per page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from services.auth.admin.schemas import LogEntry
from shared.errors import BadRequest
from shared.pagination import BAD_CURSOR, Page, PageParams, encode_cursor
from shared.events.ops import OPS_STREAM

SCAN_LIMIT = 5_000  # entries examined per request at most, whatever the filters


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def _entry(entry_id: str, fields: dict) -> LogEntry:
    fields = {_text(k): _text(v) for k, v in fields.items()}
    try:
        data = orjson.loads(fields.get("data") or "{}")
    except orjson.JSONDecodeError:
        data = {}
    millis = int(entry_id.split("-")[0])
    return LogEntry(
        id=entry_id,
        at=datetime.fromtimestamp(millis / 1000, UTC),
        level=fields.get("level", ""),
        service=fields.get("service", ""),
        tenant_id=fields.get("tenant_id") or None,
        event=fields.get("event", ""),
        data=data if isinstance(data, dict) else {},
    )


async def read_logs(
    redis,
    page: PageParams,
    *,
    tenant_id: uuid.UUID | None,
    level: str | None,
    service: str | None,
    since: datetime | None,
) -> Page[LogEntry]:
    cursor = page.decode()
    upper = "+"
    if cursor is not None:
        upper = str(cursor.get("before", ""))
        if not upper or not all(part.isdigit() for part in upper.split("-", 1)):
            raise BadRequest(BAD_CURSOR)
        upper = f"({upper}"
    lower = "-"
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        lower = str(max(0, int(since.timestamp() * 1000)))  # stream ids start at 0: before 1970 means everything
    items: list[LogEntry] = []
    scanned = 0
    last_id: str | None = None
    exhausted = False
    while len(items) < page.limit and scanned < SCAN_LIMIT:
        batch = await redis.xrevrange(OPS_STREAM, max=upper, min=lower, count=min(500, SCAN_LIMIT - scanned))
        if not batch:
            exhausted = True
            break
        for raw_id, fields in batch:
            last_id = _text(raw_id)
            scanned += 1
            entry = _entry(last_id, fields)
            if tenant_id is not None and entry.tenant_id != str(tenant_id):
                continue
            if level and entry.level != level:
                continue
            if service and entry.service != service:
                continue
            items.append(entry)
            if len(items) >= page.limit:
                break
        upper = f"({last_id}"
    next_cursor = encode_cursor({"before": last_id}) if last_id and not exhausted else None
    return Page(items=items, next_cursor=next_cursor)
