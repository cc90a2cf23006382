"""What Postgres holds: the per-tenant vector indexes (kind, build parameters, validity) and rows per tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.search.indexing.vector_indexes.ddl import (
    HNSW_DEFAULTS,
    IVFFLAT_DEFAULTS,
    LEGACY_PREFIX,
    NEW,
    OLD,
    PREFIX,
    index_name,
    tenant_of,
)

# `_` is a LIKE wildcard: escaped, so only names with exactly this prefix match
_INDEXES_SQL = (
    "SELECT c.relname, i.indisvalid AND i.indisready AS ok, c.reloptions, a.amname FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_am a ON a.oid = c.relam WHERE n.nspname = 'search' AND c.relname LIKE :prefix"
)


def like_prefix(prefix: str) -> str:
    return prefix.replace("_", "\\_") + "%"


@dataclass
class CatalogIndex:
    tenant_id: uuid.UUID
    suffix: str  # "" (the one the planner and the probe use), NEW or OLD
    valid: bool
    params: dict  # kind ("hnsw" | "ivfflat") and m, ef_construction or lists


def build_params(reloptions: list[str] | None, kind: str = "hnsw") -> dict:
    """`{m=24,ef_construction=128}` -> {"kind": "hnsw", "m": 24, "ef_construction": 128}; `{lists=484}` of an
    ivfflat index -> {"kind": "ivfflat", "lists": 484}; pgvector's defaults where absent."""
    params: dict = {"kind": kind} | (IVFFLAT_DEFAULTS if kind == "ivfflat" else HNSW_DEFAULTS)
    for option in reloptions or ():
        key, _, value = option.partition("=")
        if key in params:
            try:
                params[key] = int(value)
            except ValueError:
                params[key] = -1  # unreadable: differs from any configured value, so it gets rebuilt
    return params


def split_suffix(name: str) -> tuple[str, str]:
    suffix = next((s for s in (NEW, OLD) if name.endswith(s)), "")
    return (name.removesuffix(suffix) if suffix else name), suffix


async def existing(conn: AsyncConnection) -> dict[uuid.UUID, bool]:
    """tenant -> index is valid, for every per-tenant vector index in the catalog (staging names excluded)."""
    return {ix.tenant_id: ix.valid for ix in await catalog(conn) if not ix.suffix}


async def catalog(conn: AsyncConnection, prefix: str = PREFIX) -> list[CatalogIndex]:
    """Every per-tenant vector index, staging names of a rebuild included, with its kind and build parameters."""
    rows = await conn.execute(text(_INDEXES_SQL), {"prefix": like_prefix(prefix)})
    found = []
    for name, ok, reloptions, kind in rows:
        base, suffix = split_suffix(name)
        tenant_id = tenant_of(base, prefix)
        if tenant_id is not None:
            found.append(CatalogIndex(tenant_id, suffix, bool(ok), build_params(reloptions, kind)))
    return found


async def legacy_names(conn: AsyncConnection) -> list[str]:
    """Indexes still named with the pre-search_0007 prefix (built by a worker that outlived the migration)."""
    rows = await conn.execute(text(_INDEXES_SQL), {"prefix": like_prefix(LEGACY_PREFIX)})
    return [name for name, *_ in rows if tenant_of(split_suffix(name)[0], LEGACY_PREFIX) is not None]


async def tenant_rows(conn: AsyncConnection) -> dict[uuid.UUID, int]:
    """Rows per tenant (an index-only scan of ix_entry_tenant_source_created; tombstones included)."""
    rows = await conn.execute(text("SELECT tenant_id, count(*) FROM search.entry GROUP BY tenant_id"))
    return {tid: int(n) for tid, n in rows}


async def index_size(conn: AsyncConnection, tenant_id: uuid.UUID) -> int:
    size = await conn.scalar(
        text("SELECT pg_relation_size(to_regclass(:name))"), {"name": f"search.{index_name(tenant_id)}"}
    )
    return int(size or 0)
