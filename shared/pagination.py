"""Cursor pagination: `?limit=` (default 50, max 200) and an opaque `?cursor=`; answers `{items, next_cursor}`."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel

from shared.errors import BadRequest
from shared.openapi import raises

T = TypeVar("T")
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 50
    cursor: str | None = None

    def decode(self) -> dict[str, Any] | None:
        """The cursor's keyset values, or None for the first page."""
        if not self.cursor:
            return None
        try:
            padded = self.cursor + "=" * (-len(self.cursor) % 4)
            value = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        except Exception:  # noqa: BLE001 - any garbage is the client's error
            raise BadRequest("cursor is not valid; use next_cursor from a previous page") from None
        if not isinstance(value, dict):
            raise BadRequest("cursor is not valid; use next_cursor from a previous page")
        return value


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values, default=str)).decode().rstrip("=")


@raises(400)  # a cursor that is not one of ours
def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size (max 200)")] = 50,
    cursor: Annotated[str | None, Query(max_length=1000, description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(_page_params)]
