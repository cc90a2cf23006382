"""Keyset helpers shared by the chat lists: (created_at, id) cursors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.errors import BadRequest
from shared.pagination import PageParams, encode_cursor

_BAD = "cursor is not valid; use next_cursor from a previous page"


def created_after(page: PageParams) -> tuple[datetime, uuid.UUID] | None:
    cursor = page.decode()
    if not cursor:
        return None
    try:
        return datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor["id"])
    except (KeyError, ValueError, TypeError):
        raise BadRequest(_BAD) from None


def seq_after(page: PageParams) -> int | None:
    cursor = page.decode()
    if not cursor:
        return None
    try:
        return int(cursor["seq"])
    except (KeyError, ValueError, TypeError):
        raise BadRequest(_BAD) from None


def next_cursor(rows: list[Any], limit: int, *, key: str = "created_at") -> tuple[list[Any], str | None]:
    """Cut the extra row fetched to learn whether another page exists; encode where the next page starts."""
    more = len(rows) > limit
    rows = rows[:limit]
    if not more or not rows:
        return rows, None
    last = rows[-1]
    if key == "seq":
        return rows, encode_cursor({"seq": last.seq})
    return rows, encode_cursor({"t": getattr(last, key).isoformat(), "id": str(last.id)})
