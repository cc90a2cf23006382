"""Keyset pages over (created_at, id): stable under inserts, capped by PageDep's limit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import BadRequest
from shared.pagination import PageParams, encode_cursor


async def keyset_page(
    session: AsyncSession, stmt: Select, model: Any, page: PageParams
) -> tuple[list[Any], str | None]:
    """Rows of `stmt` oldest first after the cursor, and the cursor of the next page (or None)."""
    cursor = page.decode()
    if cursor is not None:
        try:
            after_at = datetime.fromisoformat(str(cursor["c"]))
            after_id = uuid.UUID(str(cursor["i"]))
        except (KeyError, ValueError):
            raise BadRequest("cursor is not valid; use next_cursor from a previous page") from None
        stmt = stmt.where(or_(model.created_at > after_at, and_(model.created_at == after_at, model.id > after_id)))
    stmt = stmt.order_by(model.created_at, model.id).limit(page.limit + 1)
    rows = list((await session.scalars(stmt)).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        next_cursor = encode_cursor({"c": last.created_at.isoformat(), "i": str(last.id)})
    return rows, next_cursor
