"""Reads the per-tenant vector indexes into shared buffers after a Postgres start (pgserver has no pg_prewarm)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.search.indexing.vector_indexes.catalog import catalog
from services.search.indexing.vector_indexes.ddl import index_name, tenant_literal
from shared.logging import get_logger

log = get_logger("search.vector_indexes")


@dataclass
class WarmedIndex:
    tenant_id: uuid.UUID
    kind: str
    queries: int
    seconds: float
    size_bytes: int


async def warm(
    conn: AsyncConnection,
    *,
    queries: int,
    ef_search: int,
    only: set[uuid.UUID] | None = None,
) -> list[WarmedIndex]:
    """Reads the per-tenant indexes (and the rows they point to) into shared buffers, largest tenant first.
    pgserver ships no pg_prewarm, so: an IVFFlat index is read whole by one query probing every list; an HNSW
    graph by `queries` searches at `ef_search` from the tenant's own vectors (a random sample, whose read
    brings the tenant's heap pages in too). Without it, the first searches after a Postgres restart read a
    large tenant's index from the OS or the disk (docs/benchmarks/search.md)."""
    if queries <= 0:
        return []
    indexes = [ix for ix in await catalog(conn) if not ix.suffix and ix.valid]
    if only is not None:
        indexes = [ix for ix in indexes if ix.tenant_id in only]
    if not indexes:
        return []
    sizes = {
        ix.tenant_id: int(
            await conn.scalar(
                text("SELECT pg_relation_size(to_regclass(:n))"), {"n": f"search.{index_name(ix.tenant_id)}"}
            )
            or 0
        )
        for ix in indexes
    }
    warmed = []
    try:
        for ix in sorted(indexes, key=lambda ix: -sizes[ix.tenant_id]):
            started = time.perf_counter()
            tenant = tenant_literal(ix.tenant_id)
            vectors = [
                r[0]
                for r in await conn.execute(
                    text(
                        f"SELECT embedding::text FROM search.entry WHERE tenant_id = {tenant} "
                        "AND embedding IS NOT NULL ORDER BY random() LIMIT :n"
                    ),
                    {"n": 1 if ix.params["kind"] == "ivfflat" else queries},
                )
            ]
            # session-level on this (autocommit) connection, reset below: every list of an IVFFlat index; an
            # HNSW scan stops at ef_search rows on pgvector < 0.8
            await conn.execute(
                text(
                    "SELECT set_config('ivfflat.probes', CAST(:p AS text), false), "
                    "set_config('hnsw.ef_search', CAST(:ef AS text), false)"
                ),
                {"p": str(ix.params.get("lists", 1)), "ef": str(int(ef_search))},
            )
            for vector in vectors:
                await conn.execute(
                    text(
                        f"SELECT count(*) FROM (SELECT id FROM search.entry WHERE tenant_id = {tenant} "
                        "ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k) s"
                    ),
                    {"q": vector, "k": int(ef_search)},
                )
            seconds = time.perf_counter() - started
            warmed.append(WarmedIndex(ix.tenant_id, ix.params["kind"], len(vectors), seconds, sizes[ix.tenant_id]))
    finally:
        await conn.execute(text("RESET ivfflat.probes"))
        await conn.execute(text("RESET hnsw.ef_search"))
    if warmed:
        log.info(
            "tenant_vector_indexes_warmed",
            indexes=len(warmed),
            seconds=round(sum(w.seconds for w in warmed), 2),
            mib=round(sum(w.size_bytes for w in warmed) / 2**20, 1),
        )
    return warmed
