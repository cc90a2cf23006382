"""The SQL of search: tenant-filtered vector search (planned per query), full text, and result rows.

pgvector < 0.8 has no iterative index scans: an HNSW scan returns at most `hnsw.ef_search` rows and
the tenant filter is applied after, so a tenant that is a small slice of the table gets fewer than
`limit` rows, or not the nearest ones. So (docs/search.md):
- few candidate rows (counted with a capped, index-only probe on (tenant_id, source, created_at)):
  exact scan of those rows, ordered by distance (recall 1.0, cost linear in the tenant's size), in the
  probe's own statement;
- many, and the tenant has its own partial index (HNSW, or IVFFlat for the largest): a scan of that index;
- many, no own index yet (until the worker's next pass): exact; only if a global HNSW index exists (migration
  0004 dropped it): pgvector >= 0.8 -> HNSW with `hnsw.iterative_scan = relaxed_order`; older -> HNSW with
  `hnsw.ef_search` raised for the tenant's share of the table; if that still yields fewer than `limit` rows,
  an exact scan.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.indexing.vector_indexes.ddl import GLOBAL_INDEX, index_name, tenant_literal

_VERSION_CACHE: dict[str, tuple[int, ...]] = {}
# The stored text HTML-escaped before ts_headline sees it, so the highlight's only tags are its own <b>/</b>: left raw,
# ts_headline keeps some of a message's tags (`<b onmouseover=...>`) and cuts others in half (stored XSS in a console).
_ESCAPED_TEXT = (
    "replace(replace(replace(replace(replace(text, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), "
    """'"', '&quot;'), '''', '&#39;')"""
)


@dataclass
class Filters:
    tenant_id: uuid.UUID
    sources: list[str] | None = None
    sector: str | None = None
    contact_id: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None

    def sql(self, *, indexed_only: bool = False, inline_tenant: bool = False) -> tuple[str, dict[str, Any]]:
        """WHERE clause (always tenant-scoped) and its parameters; `indexed_only`: only the columns of
        ix_entry_tenant_source_created, for the index-only size probe; `inline_tenant`: the tenant as a
        literal, so the planner can match the tenant's partial HNSW index (a `$1` never matches one)."""
        if inline_tenant:
            where, params = [f"tenant_id = {tenant_literal(self.tenant_id)}"], {}
        else:
            where, params = ["tenant_id = :tid"], {"tid": self.tenant_id}
        if self.sources and len(set(self.sources)) == 1:
            where.append("source = :source")
            params["source"] = self.sources[0]
        if self.date_from is not None:
            where.append("created_at >= :date_from")
            params["date_from"] = self.date_from
        if self.date_to is not None:
            where.append("created_at <= :date_to")
            params["date_to"] = self.date_to
        if indexed_only:
            return " AND ".join(where), params
        where.append("deleted_at IS NULL")
        for name in ("sector", "contact_id", "thread_id", "document_id"):
            value = getattr(self, name)
            if value is not None:
                where.append(f"{name} = :{name}")
                params[name] = value
        return " AND ".join(where), params


@dataclass
class Hit:
    entry_id: uuid.UUID
    score: float
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Probe:
    """What the first statement of a vector search found: the capped candidate count, whether the tenant has a
    valid partial index and its kind (`hnsw` / `ivfflat`), the table's estimated size, whether a global HNSW
    index exists, and the exact hits when `candidates` <= the cap."""

    candidates: int
    tenant_index: bool
    table_rows: int
    exact: list[Hit] | None
    index_kind: str | None = None
    global_index: bool = False
    ivfflat_probes: int | None = None  # what the statement set (meaningful for an IVFFlat index)


# The query vector travels as a binary float4[] parameter (asyncpg encodes a list of floats natively; no
# 384-number text literal to format on the client and parse on the server) and is cast to vector in SQL.
QUERY_VECTOR = "CAST(CAST(:q AS real[]) AS vector)"


def vector_param(vector: list[float]) -> list[float]:
    return [float(x) for x in vector]


async def pgvector_version(session: AsyncSession) -> tuple[int, ...]:
    """The server's pgvector version (cached per database URL)."""
    bind = session.bind
    key = str(getattr(bind, "engine", bind).url) if bind is not None else ""
    if key not in _VERSION_CACHE:
        raw = await session.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
        _VERSION_CACHE[key] = tuple(int(p) for p in str(raw or "0").split(".") if p.isdigit())
    return _VERSION_CACHE[key]


class SearchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def probe_or_exact(
        self,
        filters: Filters,
        vector: list[float],
        model: str,
        limit: int,
        *,
        cap: int,
        ef_search: int,
        iterative: bool = False,
        ivfflat_scan_rows: int = 2_500,
    ) -> Probe:
        """One statement: the capped count, the tenant's index, the table size; `hnsw.ef_search` (and the
        iterative scan) set for the rest of the transaction for the HNSW query that may follow; and, gated on
        the count (a one-time filter: never run above the cap), the exact scan of a small tenant's rows. A small
        tenant's search is one round trip (was probe + query), a large one's two (was probe, SET LOCAL, query).
        `ivfflat.probes` is set the same way, for a tenant whose index is IVFFlat: enough lists (of the index's
        reltuples / lists rows each) to compare ~`ivfflat_scan_rows` rows."""
        sql, params = self.probe_statement(
            filters,
            vector,
            model,
            limit,
            cap=cap,
            ef_search=ef_search,
            iterative=iterative,
            ivfflat_scan_rows=ivfflat_scan_rows,
        )
        rows = await self.session.execute(text(sql), params)
        found: Probe | None = None
        hits = []
        for r in rows:
            if r.id is None:
                found = Probe(
                    int(r.n or 0),
                    bool(r.has_index),
                    max(int(r.table_rows or 0), 1),
                    None,
                    r.index_kind,
                    bool(r.global_index),
                    int(r.ivfflat_probes) if r.ivfflat_probes is not None else None,
                )
            else:
                hits.append(Hit(r.id, 1.0 - float(r.d)))
        assert found is not None
        if found.candidates <= cap:
            found.exact = sorted(hits, key=lambda h: -h.score)
        return found

    @staticmethod
    def probe_statement(
        filters: Filters,
        vector: list[float],
        model: str,
        limit: int,
        *,
        cap: int,
        ef_search: int,
        iterative: bool = False,
        ivfflat_scan_rows: int = 2_500,
    ) -> tuple[str, dict[str, Any]]:
        """The statement of `probe_or_exact` and its parameters (tests EXPLAIN ANALYZE exactly this)."""
        probe_where, params = filters.sql(indexed_only=True)
        where, exact_params = filters.sql()
        iterative_sql = ", set_config('hnsw.iterative_scan', 'relaxed_order', true)" if iterative else ""
        sql = f"""
            WITH p AS MATERIALIZED (
                SELECT (SELECT count(*) FROM (SELECT 1 FROM search.entry WHERE {probe_where} LIMIT :cap1) s) AS n,
                    coalesce((SELECT indisvalid AND indisready FROM pg_index
                        WHERE indexrelid = to_regclass(:ix)), false) AS has_index,
                    (SELECT a.amname::text FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                        WHERE c.oid = to_regclass(:ix)) AS index_kind,
                    to_regclass(:global_ix) IS NOT NULL AS global_index,
                    (SELECT reltuples::bigint FROM pg_class WHERE oid = 'search.entry'::regclass) AS table_rows,
                    set_config('hnsw.ef_search', CAST(:ef AS text), true),
                    set_config('ivfflat.probes', coalesce((SELECT least(l.lists, greatest(1, ceil(
                        CAST(:scan_rows AS float8) / greatest(1.0, c.reltuples / l.lists))))::int
                        FROM pg_class c, LATERAL (SELECT coalesce(substring(array_to_string(c.reloptions, ',')
                            FROM 'lists=([0-9]+)')::int, 100) AS lists) l
                        WHERE c.oid = to_regclass(:ix)), 1)::text, true) AS ivfflat_probes{iterative_sql}
            )
            SELECT NULL::uuid AS id, NULL::float8 AS d, n, has_index, index_kind, global_index, table_rows,
                ivfflat_probes FROM p
            UNION ALL
            SELECT e.id, e.d, NULL, NULL, NULL, NULL, NULL, NULL FROM (
                SELECT id, (embedding <=> {QUERY_VECTOR}) + 0 AS d FROM search.entry
                WHERE {where} AND embedding_model = :model AND embedding IS NOT NULL
                ORDER BY d LIMIT :k
            ) e
            WHERE (SELECT n FROM p) <= :cap
            """
        return sql, (
            params
            | exact_params
            | {
                "cap1": cap + 1,
                "cap": cap,
                "ix": f"search.{index_name(filters.tenant_id)}",
                "ef": str(int(ef_search)),
                "scan_rows": float(ivfflat_scan_rows),
                "global_ix": f"search.{GLOBAL_INDEX}",
                "q": vector_param(vector),
                "model": model,
                "k": limit,
            }
        )

    async def exact(self, filters: Filters, vector: list[float], model: str, limit: int) -> list[Hit]:
        """Every candidate's distance, sorted: `+ 0` keeps the planner off the HNSW indexes, and sorting by
        the output column computes each distance once (not once for the list and again for the sort key)."""
        where, params = filters.sql()
        rows = await self.session.execute(
            text(
                f"""
                SELECT id, (embedding <=> {QUERY_VECTOR}) + 0 AS d FROM search.entry
                WHERE {where} AND embedding_model = :model AND embedding IS NOT NULL
                ORDER BY d LIMIT :k
                """
            ),
            params | {"q": vector_param(vector), "model": model, "k": limit},
        )
        return [Hit(r.id, 1.0 - float(r.d)) for r in rows]

    async def hnsw(
        self,
        filters: Filters,
        vector: list[float],
        model: str,
        limit: int,
        *,
        ef_search: int | None,
        iterative: bool = False,
        tenant_index: bool = False,
    ) -> list[Hit]:
        """Index scan post-filtered by tenant; `ef_search` / `iterative` (pgvector >= 0.8: scan on until `limit`
        rows passed the filter) are set first unless None / False (`probe_or_exact` set them already); with
        `tenant_index` the tenant is inlined so the planner picks the tenant's partial index, HNSW or IVFFlat
        (only its rows: nothing is filtered out by tenant)."""
        if ef_search is not None:
            await self.session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
        if iterative:
            await self.session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        sql, params = self.hnsw_statement(filters, vector, model, limit, tenant_index=tenant_index)
        rows = await self.session.execute(text(sql), params)
        return [Hit(r.id, 1.0 - float(r.d)) for r in rows]

    @staticmethod
    def hnsw_statement(
        filters: Filters, vector: list[float], model: str, limit: int, *, tenant_index: bool
    ) -> tuple[str, dict[str, Any]]:
        """The HNSW query and its parameters (tests EXPLAIN exactly this)."""
        where, params = filters.sql(inline_tenant=tenant_index)
        sql = f"""
            WITH c AS MATERIALIZED (
                SELECT id, embedding <=> {QUERY_VECTOR} AS d FROM search.entry
                WHERE {where} AND embedding_model = :model
                ORDER BY embedding <=> {QUERY_VECTOR} LIMIT :k
            )
            SELECT id, d FROM c ORDER BY d
            """
        return sql, params | {"q": vector_param(vector), "model": model, "k": limit}

    async def keyword(self, filters: Filters, ts_config: str, query: str, limit: int) -> list[Hit]:
        where, params = filters.sql()
        rows = await self.session.execute(
            text(
                f"""
                SELECT e.id, ts_rank_cd(e.tsv, q, 32) AS r
                FROM search.entry e, websearch_to_tsquery(CAST(:cfg AS regconfig), :query) q
                WHERE {where} AND e.tsv @@ q
                ORDER BY r DESC, e.created_at DESC LIMIT :k
                """
            ),
            params | {"cfg": ts_config, "query": query, "k": limit},
        )
        return [Hit(r.id, float(r.r)) for r in rows]

    async def rows(
        self, tenant_id: uuid.UUID, ids: list[uuid.UUID], *, ts_config: str | None, query: str | None
    ) -> dict[uuid.UUID, Any]:
        """The result rows (tenant-scoped again), with a highlighted passage when a text query is given."""
        if not ids:
            return {}
        highlight = (
            f"ts_headline(CAST(:cfg AS regconfig), {_ESCAPED_TEXT}, websearch_to_tsquery(CAST(:cfg AS regconfig), "
            ":query), 'MaxWords=60, MinWords=20, MaxFragments=2')"
            if ts_config
            else "NULL"
        )
        params: dict[str, Any] = {"tid": tenant_id, "ids": ids}
        if ts_config:
            params |= {"cfg": ts_config, "query": query}
        result = await self.session.execute(
            text(
                f"""
                SELECT id, source, ref_id, document_id, chunk_index, thread_id, contact_id, sector, role, text,
                    created_at, {highlight} AS highlight
                FROM search.entry WHERE tenant_id = :tid AND id = ANY(CAST(:ids AS uuid[])) AND deleted_at IS NULL
                """
            ),
            params,
        )
        return {r.id: r for r in result}


def ef_search_for(limit: int, tenant_share: float, floor: int) -> int:
    """Enough HNSW candidates that ~`limit` of them belong to a tenant holding `tenant_share` of the rows."""
    share = min(max(tenant_share, 1e-6), 1.0)
    return int(min(1000, max(floor, math.ceil(4 * limit / share))))
