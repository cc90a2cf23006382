"""The one keyset helper (shared/pagination.py) on real Postgres rows: ties on created_at, both directions,
seq order, cursors of the code before it, and cursors that are not ours."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import select

from services.chat.contacts.models import Contact
from shared.errors import BadRequest
from shared.pagination import Keyset, PageParams, encode_cursor, keyset_page

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def _contacts(session, tenant_id, n: int, at: datetime = AT) -> list[uuid.UUID]:
    ids = sorted(uuid.uuid4() for _ in range(n))
    for cid in ids:
        session.add(Contact(id=cid, tenant_id=tenant_id, name=f"c{cid.hex[:4]}", channel="api", created_at=at))
    await session.flush()
    return ids


async def _walk(session, stmt, keyset: Keyset, limit: int) -> list[uuid.UUID]:
    seen, cursor = [], None
    for _ in range(50):
        found = await keyset_page(session, stmt, keyset, PageParams(limit=limit, cursor=cursor))
        assert len(found.rows) <= limit
        seen += [r.id for r in found.rows]
        cursor = found.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("pages never ended")


async def test_a_page_boundary_inside_equal_created_at_loses_and_repeats_nothing(session):
    tenant = uuid.uuid4()
    ids = await _contacts(session, tenant, 5)
    stmt = select(Contact).where(Contact.tenant_id == tenant)
    assert await _walk(session, stmt, Keyset.created(Contact), 2) == ids
    assert await _walk(session, stmt, Keyset.created(Contact, descending=True), 2) == ids[::-1]
    # the last page is exactly full: no cursor to an empty page
    found = await keyset_page(session, stmt, Keyset.created(Contact), PageParams(limit=5))
    assert found.next_cursor is None and [r.id for r in found.rows] == ids


async def test_cursors_handed_out_before_the_shared_helper_still_work(session):
    tenant = uuid.uuid4()
    ids = await _contacts(session, tenant, 3)
    stmt = select(Contact).where(Contact.tenant_id == tenant)
    for old in ({"c": AT.isoformat(), "i": str(ids[0])}, {"t": AT.isoformat(), "id": str(ids[0])}):
        found = await keyset_page(session, stmt, Keyset.created(Contact), PageParams(cursor=encode_cursor(old)))
        assert [r.id for r in found.rows] == ids[1:]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        encode_cursor({"k": ["not a time", str(uuid.uuid4())]}),
        encode_cursor({"k": [AT.isoformat(), "not-a-uuid"]}),
        encode_cursor({"k": [AT.isoformat()]}),
        encode_cursor({"seq": 5}),  # a message cursor offered to a (created_at, id) list
        encode_cursor({"other": 1}),
    ],
)
async def test_a_tampered_cursor_is_a_bad_request(session, cursor):
    stmt = select(Contact).where(Contact.tenant_id == uuid.uuid4())
    with pytest.raises(BadRequest):
        await keyset_page(session, stmt, Keyset.created(Contact), PageParams(cursor=cursor))


def test_a_cursor_is_opaque_base64_json_of_the_key_values():
    cid = uuid.uuid4()
    row = Contact(id=cid, created_at=AT)
    cursor = Keyset.created(Contact).cursor_of(row)
    padded = cursor + "=" * (-len(cursor) % 4)
    assert orjson.loads(base64.urlsafe_b64decode(padded)) == {"k": [AT.isoformat(), str(cid)]}
    assert Keyset.created(Contact).after(PageParams(cursor=cursor)) == (AT, cid)
