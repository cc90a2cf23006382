"""Cursor pagination: `?limit=` (default 50, max 200) and an opaque `?cursor=`; answers `{items, next_cursor}`.

Every list pages by keyset (never offset) through `keyset_page()`: the select is ordered by a `Keyset` (its last
column unique, usually `id`), cut after the cursor's values, and one extra row tells whether a next page exists.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.errors import BadRequest
from shared.openapi import raises

T = TypeVar("T")
R = TypeVar("R")
MAX_LIMIT = 200
BAD_CURSOR = "cursor is not valid; use next_cursor from a previous page"
# Cursors handed out before the shared helper (opaque and short-lived, still honoured): their keys, in order.
_LEGACY_KEYS = (("c", "i"), ("t", "id"), ("at", "id"), ("seq",))


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 50
    cursor: str | None = None

    def decode(self) -> dict[str, Any] | None:
        """The cursor's raw content, or None for the first page."""
        if not self.cursor:
            return None
        try:
            padded = self.cursor + "=" * (-len(self.cursor) % 4)
            value = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        except Exception:  # noqa: BLE001 - any garbage is the client's error
            raise BadRequest(BAD_CURSOR) from None
        if not isinstance(value, dict):
            raise BadRequest(BAD_CURSOR)
        return value


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values, default=str)).decode().rstrip("=")


@dataclass(frozen=True)
class Keyset:
    """The order of a list: columns compared as a row, the last one unique (e.g. `id`), all one direction."""

    columns: tuple[InstrumentedAttribute, ...]
    descending: bool = False

    @classmethod
    def created(cls, model: Any, *, descending: bool = False) -> Keyset:
        """(created_at, id): the order of most lists, oldest first unless `descending`."""
        return cls((model.created_at, model.id), descending=descending)

    def after(self, page: PageParams) -> tuple[Any, ...] | None:
        """The cursor's values typed like the columns, or None for the first page; a foreign cursor is a 400."""
        cursor = page.decode()
        if cursor is None:
            return None
        raw = cursor.get("k")
        if raw is None:
            raw = next(([cursor[k] for k in keys] for keys in _LEGACY_KEYS if all(k in cursor for k in keys)), None)
        if not isinstance(raw, list) or len(raw) != len(self.columns):
            raise BadRequest(BAD_CURSOR)
        try:
            return tuple(_typed(column, value) for column, value in zip(self.columns, raw, strict=True))
        except (TypeError, ValueError):
            raise BadRequest(BAD_CURSOR) from None

    def apply(self, stmt: Select, after: tuple[Any, ...] | None, limit: int) -> Select:
        """`stmt` ordered by the keyset, after `after`, one row more than `limit`."""
        if after is not None:
            row = tuple_(*self.columns)
            stmt = stmt.where(row < tuple_(*after) if self.descending else row > tuple_(*after))
        order = [c.desc() for c in self.columns] if self.descending else list(self.columns)
        return stmt.order_by(*order).limit(limit + 1)

    def cursor_of(self, row: Any) -> str:
        return encode_cursor({"k": [_plain(getattr(row, c.key)) for c in self.columns]})

    def cut(self, rows: list[R], limit: int) -> KeysetPage[R]:
        """Drop the extra row fetched to learn whether another page exists; the cursor says where it starts."""
        if len(rows) <= limit:
            return KeysetPage(rows=rows, next_cursor=None)
        rows = rows[:limit]
        return KeysetPage(rows=rows, next_cursor=self.cursor_of(rows[-1]))


@dataclass(frozen=True)
class KeysetPage(Generic[R]):
    """One page of rows and the cursor of the next (None: this was the last)."""

    rows: list[R]
    next_cursor: str | None


async def keyset_page(session: AsyncSession, stmt: Select, keyset: Keyset, page: PageParams) -> KeysetPage[Any]:
    """The rows of `stmt` (one entity per row) that follow the page's cursor in the keyset's order."""
    rows = list((await session.scalars(keyset.apply(stmt, keyset.after(page), page.limit))).all())
    return keyset.cut(rows, page.limit)


def _typed(column: InstrumentedAttribute, value: Any) -> Any:
    kind = column.type.python_type
    if kind is datetime:
        return datetime.fromisoformat(str(value))
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    if kind is int:
        if isinstance(value, bool):
            raise TypeError("not an int")
        return int(value)
    return kind(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


@raises(400)  # a cursor that is not one of ours
def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size (max 200)")] = 50,
    cursor: Annotated[str | None, Query(max_length=1000, description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(_page_params)]
