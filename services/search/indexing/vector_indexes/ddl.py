"""Names and DDL of the per-tenant vector indexes."""

from __future__ import annotations

import math
import uuid

PREFIX = "ix_entry_vector_t_"
# the name before migration search_0007 (it said `hnsw` of IVFFlat indexes too); adopted by `maintain`
LEGACY_PREFIX = "ix_entry_hnsw_t_"
NEW, OLD = "_new", "_old"  # a rebuild's staging names: `<name>_new` is built, swapped in, `<name>_old` dropped
HNSW_DEFAULTS = {"m": 16, "ef_construction": 64}  # pgvector's, for an index built without WITH (...)
IVFFLAT_DEFAULTS = {"lists": 100}
GLOBAL_INDEX = "ix_entry_embedding_hnsw"  # migration 0002's, dropped by 0004; used by the query path if present


def index_name(tenant_id: uuid.UUID) -> str:
    """Deterministic and at most 50 characters (Postgres allows 63, and a staging suffix must fit)."""
    return PREFIX + uuid.UUID(str(tenant_id)).hex


def tenant_of(name: str, prefix: str = PREFIX) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=name.removeprefix(prefix)) if name.startswith(prefix) else None
    except ValueError:
        return None


def tenant_literal(tenant_id: uuid.UUID) -> str:
    """The tenant as a SQL literal: a partial index predicate only matches a constant, never a `$1`
    (a prepared statement's generic plan could not use the index). Safe: it is re-parsed as a UUID."""
    return f"'{uuid.UUID(str(tenant_id))}'::uuid"


def lists_for(rows: int) -> int:
    """IVFFlat lists for a tenant of `rows` rows: sqrt(rows) (pgvector's advice above 1M rows; below it
    rows / 1000 would make lists too long to scan per probe at this size)."""
    return max(1, round(math.sqrt(max(rows, 1))))


def create_sql(
    tenant_id: uuid.UUID,
    *,
    m: int | None = None,
    ef_construction: int | None = None,
    lists: int | None = None,
    concurrently: bool = True,
    suffix: str = "",
) -> str:
    """HNSW with `m` / `ef_construction`, or IVFFlat with `lists`."""
    if lists is not None:
        method = f"ivfflat (embedding vector_cosine_ops) WITH (lists = {int(lists)})"
    else:
        method = (
            f"hnsw (embedding vector_cosine_ops) WITH (m = {int(m or HNSW_DEFAULTS['m'])}, "
            f"ef_construction = {int(ef_construction or HNSW_DEFAULTS['ef_construction'])})"
        )
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {index_name(tenant_id)}{suffix} "
        f"ON search.entry USING {method} WHERE tenant_id = {tenant_literal(tenant_id)}"
    )


def build_spec(params: dict) -> dict[str, int]:
    """The keyword arguments of `create_sql` for wanted parameters."""
    return {k: v for k, v in params.items() if k != "kind"}
