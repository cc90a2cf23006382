"""Per-tenant vector indexes are named by what they are (`ix_entry_vector_t_<hex>`, HNSW or IVFFlat): migration
search_0007 renames the old `ix_entry_hnsw_t_` names idempotently, and the worker's pass adopts an index a worker
of the previous release built under the old name during a deploy (renamed, or dropped if it duplicates one)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

from sqlalchemy import text

from services.search.indexing.vector_indexes.catalog import catalog, legacy_names
from services.search.indexing.vector_indexes.ddl import LEGACY_PREFIX, PREFIX, index_name, lists_for
from services.search.indexing.vector_indexes.maintenance import maintain

MIGRATION = Path("services/search/migrations/versions/0007_vector_index_names.py")


def migration():
    spec = importlib.util.spec_from_file_location("search_0007", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def add_rows(session, tenant_id: uuid.UUID, rows: int) -> None:
    await session.execute(
        text(
            "INSERT INTO search.entry (id, tenant_id, source, ref_id, text, embedding, embedding_model, "
            "embedding_dim, created_at) SELECT gen_random_uuid(), :t, 'messages', gen_random_uuid(), 'x', "
            "(SELECT array_agg(random() - 0.5)::vector(384) FROM generate_series(1, 384) WHERE g > 0), "
            "'m', 384, now() FROM generate_series(1, :n) g"
        ),
        {"t": tenant_id, "n": rows},
    )


async def legacy_index(session, tenant_id: uuid.UUID, *, lists: int, name: str | None = None) -> str:
    """An IVFFlat index as the previous release named it (`hnsw` in the name of an IVFFlat index)."""
    name = name or LEGACY_PREFIX + tenant_id.hex
    await session.execute(
        text(
            f"CREATE INDEX {name} ON search.entry USING ivfflat (embedding vector_cosine_ops) "
            f"WITH (lists = {lists}) WHERE tenant_id = '{tenant_id}'::uuid"
        )
    )
    return name


async def names_of(session, tenant_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'search.entry'::regclass AND pg_get_expr(i.indpred, i.indrelid) LIKE :t ORDER BY 1"
        ),
        {"t": f"%{tenant_id}%"},
    )
    return [r[0] for r in rows]


def test_names_say_vector_not_a_kind():
    tenant = uuid.uuid4()
    assert index_name(tenant) == f"ix_entry_vector_t_{tenant.hex}" and "hnsw" not in index_name(tenant)
    assert len(index_name(tenant) + "_new") <= 63


async def test_migration_renames_old_names_idempotently(session):
    renamed, taken, staging = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for tenant in (renamed, taken, staging):
        await add_rows(session, tenant, 20)
    await legacy_index(session, renamed, lists=4)
    await legacy_index(session, staging, lists=4, name=LEGACY_PREFIX + staging.hex + "_new")
    await legacy_index(session, taken, lists=4)
    await legacy_index(session, taken, lists=4, name=index_name(taken))  # the new name is already taken
    rename = migration().RENAME
    for _ in range(2):  # idempotent
        await session.execute(text(rename.format(old=LEGACY_PREFIX, new=PREFIX)))
        assert await names_of(session, renamed) == [index_name(renamed)]
        assert await names_of(session, staging) == [index_name(staging) + "_new"]
        # left for the worker to drop CONCURRENTLY
        assert await names_of(session, taken) == sorted([LEGACY_PREFIX + taken.hex, index_name(taken)])
    # the downgrade is the same statement the other way
    await session.execute(text(rename.format(old=PREFIX, new=LEGACY_PREFIX)))
    assert await names_of(session, renamed) == [LEGACY_PREFIX + renamed.hex]


async def test_maintain_adopts_an_index_built_under_the_old_name(session):
    tenant = uuid.uuid4()
    await add_rows(session, tenant, 300)
    conn = await session.connection()
    args = {"min_rows": 200, "ivfflat_min_rows": 250, "concurrently": False}
    # a worker of the previous release built it after the migration ran: the pass renames it, builds nothing
    legacy = await legacy_index(session, tenant, lists=lists_for(300))
    assert [a for a in await maintain(conn, **args) if a.tenant_id == tenant] == []
    assert await names_of(session, tenant) == [index_name(tenant)]
    assert [(ix.suffix, ix.params["kind"]) for ix in await catalog(conn) if ix.tenant_id == tenant] == [("", "ivfflat")]
    # built again under the old name next to the new one: the duplicate is dropped
    await legacy_index(session, tenant, lists=lists_for(300))
    assert legacy in await legacy_names(conn)
    assert [a for a in await maintain(conn, **args) if a.tenant_id == tenant] == []
    assert await names_of(session, tenant) == [index_name(tenant)]
    assert legacy not in await legacy_names(conn)
