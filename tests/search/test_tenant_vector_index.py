"""Per-tenant partial vector indexes: built above the threshold, used by the planner (EXPLAIN, generic plans
included), tenant-isolated, `limit` rows with recall >= 0.95 against exact; the worker's CONCURRENTLY
lifecycle (build, idempotent re-run, drop when the tenant shrinks, rebuild of an index built with other
`m`/`ef_construction`)."""

from __future__ import annotations

import asyncio
import re
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.search.config import SearchSettings
from services.search.indexing.vector_indexes.catalog import catalog, existing
from services.search.indexing.vector_indexes.ddl import NEW, create_sql, index_name, lists_for
from services.search.indexing.vector_indexes.loop import maintain_forever
from services.search.indexing.vector_indexes.maintenance import fits, maintain
from services.search.indexing.vector_indexes.warming import warm
from services.search.query.repository import Filters, SearchRepository
from services.search.query.service import SearchService
from tests.search.test_isolation_scale import load_synthetic, sample_queries

# the production graph: m decides the planner's choice, m and ef_construction the recall at the default ef_search
FAST = {
    "m": SearchSettings.model_fields["hnsw_m"].default,
    "ef_construction": SearchSettings.model_fields["hnsw_ef_construction"].default,
}


def literal(value) -> str:
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):  # the query vector: a float4[] parameter
        return "'{" + ",".join(str(x) for x in value) + "}'"
    return f"'{value}'"


async def explain(session, sql: str, params: dict, *, generic: bool = False) -> str:
    """The plan of `sql`; `generic`: as a prepared statement's generic plan (no parameter values known)."""
    if not generic:
        return "\n".join(r[0] for r in await session.execute(text("EXPLAIN " + sql), params))
    names = list(dict.fromkeys(re.findall(r"(?<!:):([a-z_]+)", sql)))
    positional = re.sub(r"(?<!:):([a-z_]+)", lambda m: f"${names.index(m.group(1)) + 1}", sql)
    name = f"p_{uuid.uuid4().hex[:8]}"
    await session.execute(text(f"PREPARE {name} AS {positional}"))
    await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    args = ", ".join(literal(params[n]) for n in names)
    plan = "\n".join(r[0] for r in await session.execute(text(f"EXPLAIN EXECUTE {name}({args})")))
    await session.execute(text(f"DEALLOCATE {name}"))
    await session.execute(text("SET LOCAL plan_cache_mode = auto"))
    return plan


async def test_partial_index_built_used_isolated_and_accurate(session, embedder, tenants, search_settings):
    big, other, small = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # no global HNSW index here: the big tenant can only get an index scan from its own partial index
    await load_synthetic(session, embedder.model, {big: 3_000, other: 2_500, small: 40}, hnsw=False)
    conn = await session.connection()
    # both are above the threshold; a pass capped to one build takes the largest first
    actions = await maintain(conn, min_rows=2_000, max_builds=1, concurrently=False, **FAST)
    assert [(a.tenant_id, a.action) for a in actions] == [(big, "created")]
    assert (await existing(conn)).get(big) is True and small not in await existing(conn)
    assert await maintain(conn, min_rows=2_000, max_builds=1, concurrently=False, **FAST) != []  # builds `other` now
    assert await maintain(conn, min_rows=2_000, concurrently=False, **FAST) == []  # idempotent: nothing left to do
    await session.execute(text(f"DROP INDEX search.{index_name(other)}"))  # `other` goes through the global path
    await session.execute(text("ANALYZE search.entry"))

    repo = SearchRepository(session)
    [vector] = await sample_queries(session, big, 1)
    sql, params = repo.hnsw_statement(Filters(tenant_id=big), vector, embedder.model, 10, tenant_index=True)
    assert f"Index Scan using {index_name(big)}" in await explain(session, sql, params)
    # the tenant is a literal, so even a prepared statement's generic plan matches the partial index ...
    assert f"Index Scan using {index_name(big)}" in await explain(session, sql, params, generic=True)
    # ... which a `tenant_id = $1` generic plan cannot (why the repository inlines the validated UUID)
    sql_param, params_param = repo.hnsw_statement(
        Filters(tenant_id=big), vector, embedder.model, 10, tenant_index=False
    )
    assert index_name(big) not in await explain(session, sql_param, params_param, generic=True)
    # migration 0004 dropped the global index; re-created next to it (m=16), the tenant's own m=16 index still wins
    # the cost comparison for a tenant holding most of the table (pgvector 0.6 costs a scan as (levels + 2) x m:
    # with m=24 the global m=16 index won for a 23%-share tenant of the 1M bench, and its queries were
    # post-filtered)
    assert await session.scalar(text("SELECT to_regclass('search.ix_entry_embedding_hnsw')")) is None
    await session.execute(
        text(
            "CREATE INDEX ix_entry_embedding_hnsw ON search.entry USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
    )
    await session.execute(text("ANALYZE search.entry"))
    assert f"Index Scan using {index_name(big)}" in await explain(session, sql, params)
    await session.execute(text("DROP INDEX search.ix_entry_embedding_hnsw"))

    settings = search_settings.model_copy(update={"exact_search_max_rows": 500, "tenant_index_min_rows": 2_000})
    service = SearchService(session, embedder, tenants, settings)
    mine = {r[0] for r in await session.execute(text("SELECT id FROM search.entry WHERE tenant_id = :t"), {"t": big})}
    recalls = []
    for vector in await sample_queries(session, big, 20):
        hits, plan = await service.nearest(Filters(tenant_id=big), vector, 10)
        assert plan == "tenant_hnsw" and len(hits) == 10
        assert {h.entry_id for h in hits} <= mine  # only the tenant's rows
        exact = await repo.exact(Filters(tenant_id=big), vector, embedder.model, 10)
        recalls.append(len({h.entry_id for h in hits} & {h.entry_id for h in exact}) / 10)
    assert sum(recalls) / len(recalls) >= 0.95, recalls

    # the first statement: above the cap its exact branch never runs (a 234k-row tenant's exact scan takes
    # seconds), and the ef_search it sets is the one the HNSW query after it uses (pgvector < 0.8 returns at
    # most ef_search rows, so 10 rows for a limit of 40 prove the setting; no SET LOCAL round trip)
    sql, params = repo.probe_statement(Filters(tenant_id=big), vector, embedder.model, 40, cap=500, ef_search=10)
    analyzed = "\n".join(r[0] for r in await session.execute(text("EXPLAIN (ANALYZE, COSTS OFF) " + sql), params))
    gate = (
        r"One-Time Filter: \(\$\d+ <= '500'::bigint\)\n(\s+(InitPlan|->  CTE Scan).*\n)*"
        r"\s+->  Limit \(never executed\)"
    )
    assert re.search(gate, analyzed), analyzed
    probe = await repo.probe_or_exact(Filters(tenant_id=big), vector, embedder.model, 40, cap=500, ef_search=10)
    assert (probe.candidates, probe.tenant_index, probe.exact) == (501, True, None)
    assert await session.scalar(text("SHOW hnsw.ef_search")) == "10"
    hits = await repo.hnsw(Filters(tenant_id=big), vector, embedder.model, 40, ef_search=None, tenant_index=True)
    assert len(hits) == 10 and {h.entry_id for h in hits} <= mine
    # below the cap the same statement is the whole search: the exact hits, in order
    probe = await repo.probe_or_exact(Filters(tenant_id=small), vector, embedder.model, 10, cap=500, ef_search=10)
    assert probe.candidates == 40 and probe.tenant_index is False
    exact = await repo.exact(Filters(tenant_id=small), vector, embedder.model, 10)
    assert [h.entry_id for h in probe.exact] == [h.entry_id for h in exact]

    # a query vector right in the big tenant's cluster, asked by the small tenant: exact, its own rows only
    hits, plan = await service.nearest(Filters(tenant_id=small), vector, 50)
    theirs = {
        r[0] for r in await session.execute(text("SELECT id FROM search.entry WHERE tenant_id = :t"), {"t": small})
    }
    assert plan == "exact" and len(hits) == 40 and {h.entry_id for h in hits} == theirs
    # above the exact cap without an index of its own and no global index (migration 0004): exact
    hits, plan = await service.nearest(Filters(tenant_id=other), vector, 10)
    assert plan == "exact_unindexed" and len(hits) == 10
    assert [h.entry_id for h in hits] == [
        h.entry_id for h in await repo.exact(Filters(tenant_id=other), vector, embedder.model, 10)
    ]

    # a filter the index does not cover (a rare sector) still returns `limit` matching rows: exact fallback
    await session.execute(
        text(
            "UPDATE search.entry SET sector = 'rare' WHERE id IN "
            "(SELECT id FROM search.entry WHERE tenant_id = :t ORDER BY random() LIMIT 12)"
        ),
        {"t": big},
    )
    rare = Filters(tenant_id=big, sector="rare")
    hits, plan = await service.nearest(rare, vector, 10)
    assert plan in ("tenant_hnsw", "tenant_hnsw+exact") and len(hits) == 10
    assert [h.entry_id for h in hits] == [h.entry_id for h in await repo.exact(rare, vector, embedder.model, 10)]


async def test_concurrent_build_and_drop_lifecycle(stack, embedder):
    """What the worker runs: CREATE INDEX CONCURRENTLY on an autocommit connection, committed data."""
    tenant = uuid.uuid4()
    engine = create_async_engine(stack.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(
                text(
                    "INSERT INTO search.entry (id, tenant_id, source, ref_id, text, embedding, embedding_model, "
                    "embedding_dim, created_at) SELECT gen_random_uuid(), :t, 'messages', gen_random_uuid(), 'x', "
                    "(SELECT array_agg(random() - 0.5)::vector(384) FROM generate_series(1, 384) WHERE g > 0), "
                    ":m, 384, now() FROM generate_series(1, 300) g"
                ),
                {"t": tenant, "m": embedder.model},
            )
            before = set(await existing(conn))
            try:
                # the worker's loop builds it (CREATE INDEX CONCURRENTLY on its own autocommit connection)
                settings = stack.settings(
                    SearchSettings, tenant_index_min_rows=200, tenant_index_interval_seconds=1, auth_url=""
                )
                stop = asyncio.Event()
                loop = asyncio.create_task(maintain_forever(settings, stop))
                for _ in range(600):
                    if (await existing(conn)).get(tenant):
                        break
                    await asyncio.sleep(0.1)
                stop.set()
                await asyncio.wait_for(loop, 30)
                assert (await existing(conn)).get(tenant) is True
                assert not [a for a in await maintain(conn, min_rows=200) if a.tenant_id == tenant]  # idempotent
                # an interrupted CONCURRENTLY build leaves an invalid index: the next pass drops and rebuilds it
                await conn.execute(text(f"DROP INDEX search.{index_name(tenant)}"))
                await conn.execute(text(create_sql(tenant, m=16, ef_construction=64, concurrently=False)))
                await conn.execute(
                    text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(:n)"),
                    {"n": f"search.{index_name(tenant)}"},
                )
                assert (await existing(conn))[tenant] is False
                mine = [a.action for a in await maintain(conn, min_rows=200) if a.tenant_id == tenant]
                assert mine == ["dropped_invalid", "created"] and (await existing(conn))[tenant] is True
                # the tenant shrinks below half the threshold (erasure, tenant deleted): its index goes
                await conn.execute(text("DELETE FROM search.entry WHERE tenant_id = :t"), {"t": tenant})
                mine = [a.action for a in await maintain(conn, min_rows=200) if a.tenant_id == tenant]
                assert mine == ["dropped"] and tenant not in await existing(conn)
            finally:
                await conn.execute(text("DELETE FROM search.entry WHERE tenant_id = :t"), {"t": tenant})
                for left in set(await existing(conn)) - before:  # ours, and any other committed tenant's
                    await conn.execute(text(f"DROP INDEX IF EXISTS search.{index_name(left)}"))
    finally:
        await engine.dispose()


async def test_rebuilds_index_with_other_build_parameters(stack, embedder):
    """A tenant index left by the short-lived m=24/ef_construction=128 default is rebuilt CONCURRENTLY at the
    configured parameters (new name first, swap, old dropped): the tenant keeps exactly one valid index."""
    tenant = uuid.uuid4()
    name = index_name(tenant)
    want = SearchSettings.model_fields["hnsw_m"].default, SearchSettings.model_fields["hnsw_ef_construction"].default
    configured = sorted([f"m={want[0]}", f"ef_construction={want[1]}"])
    engine = create_async_engine(stack.database_url, pool_size=1)

    async def tenant_indexes(conn) -> list[tuple[str, bool, list[str]]]:
        """Every index on search.entry whose predicate names the tenant, whatever its name."""
        rows = await conn.execute(
            text(
                "SELECT c.relname, i.indisvalid AND i.indisready, c.reloptions FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'search.entry'::regclass "
                "AND pg_get_expr(i.indpred, i.indrelid) LIKE :t"
            ),
            {"t": f"%{tenant}%"},
        )
        return [(n, bool(ok), sorted(opts or [])) for n, ok, opts in rows]

    async def ours(conn) -> list[str]:
        return [
            a.action
            for a in await maintain(conn, min_rows=200, m=want[0], ef_construction=want[1])
            if a.tenant_id == tenant
        ]

    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(
                text(
                    "INSERT INTO search.entry (id, tenant_id, source, ref_id, text, embedding, embedding_model, "
                    "embedding_dim, created_at) SELECT gen_random_uuid(), :t, 'messages', gen_random_uuid(), 'x', "
                    "(SELECT array_agg(random() - 0.5)::vector(384) FROM generate_series(1, 384) WHERE g > 0), "
                    ":m, 384, now() FROM generate_series(1, 300) g"
                ),
                {"t": tenant, "m": embedder.model},
            )
            try:
                # by hand, as the released 24/128 default built it
                await conn.execute(text(create_sql(tenant, m=24, ef_construction=128)))
                assert await tenant_indexes(conn) == [(name, True, ["ef_construction=128", "m=24"])]
                assert await ours(conn) == ["rebuilt"]
                assert await tenant_indexes(conn) == [(name, True, configured)]
                assert await ours(conn) == []  # idempotent: the configured parameters are left alone

                # interrupted midway, 1: a killed CONCURRENTLY build of `_new` (invalid) next to a stale index
                await conn.execute(text(f"DROP INDEX search.{name}"))
                await conn.execute(text(create_sql(tenant, m=24, ef_construction=128)))
                await conn.execute(text(create_sql(tenant, m=want[0], ef_construction=want[1], suffix=NEW)))
                await conn.execute(
                    text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(:n)"),
                    {"n": f"search.{name}{NEW}"},
                )
                assert await ours(conn) == ["dropped_stale", "rebuilt"]
                assert await tenant_indexes(conn) == [(name, True, configured)]

                # interrupted midway, 2: `_new` built, the swap never ran: the next pass only swaps and drops
                await conn.execute(text(f"DROP INDEX search.{name}"))
                await conn.execute(text(create_sql(tenant, m=24, ef_construction=128)))
                await conn.execute(text(create_sql(tenant, m=want[0], ef_construction=want[1], suffix=NEW)))
                assert len(await tenant_indexes(conn)) == 2
                assert await ours(conn) == ["rebuilt"]
                assert await tenant_indexes(conn) == [(name, True, configured)]
                assert [ix.suffix for ix in await catalog(conn) if ix.tenant_id == tenant] == [""]
                assert (await existing(conn))[tenant] is True
            finally:
                await conn.execute(text("DELETE FROM search.entry WHERE tenant_id = :t"), {"t": tenant})
                for left, _, _ in await tenant_indexes(conn):
                    await conn.execute(text(f"DROP INDEX IF EXISTS search.{left}"))
    finally:
        await engine.dispose()


async def grow(session, tenant_id: uuid.UUID, rows: int) -> None:
    """`rows` more rows for the tenant: copies of its own vectors, slightly moved (no model needed)."""
    await session.execute(
        text(
            "INSERT INTO search.entry (id, tenant_id, source, ref_id, text, ts_config, embedding, embedding_model, "
            "embedding_dim, created_at) SELECT gen_random_uuid(), tenant_id, source, gen_random_uuid(), text, "
            "ts_config, embedding + (SELECT array_agg((random() - 0.5) * 0.02)::vector(384) "
            "FROM generate_series(1, 384) WHERE g > 0), embedding_model, 384, created_at "
            "FROM search.entry, generate_series(1, 1) g WHERE tenant_id = :t LIMIT :n"
        ),
        {"t": tenant_id, "n": rows},
    )


async def test_largest_tenants_get_ivfflat_without_global_index(session, embedder, tenants, search_settings):
    """From `ivfflat_min_rows` a tenant's index is IVFFlat (lists = sqrt(rows)); with no global index (migration
    0004) the planner takes a tenant's own index whatever its kind or m; the kind follows the tenant's size (with
    hysteresis) and IVFFlat lists its growth; the warm-up reads each index and leaves no setting behind."""
    big, mid = uuid.uuid4(), uuid.uuid4()
    await load_synthetic(session, embedder.model, {big: 3_000, mid: 2_200}, hnsw=False)
    conn = await session.connection()
    # m=24: loses to a global m=16 index on pgvector 0.6's cost model, wins now there is none
    args = {"min_rows": 2_000, "ivfflat_min_rows": 2_500, "m": 24, "ef_construction": 200, "concurrently": False}
    actions = await maintain(conn, **args)
    assert sorted((a.tenant_id == big, a.action) for a in actions) == [(False, "created"), (True, "created")]
    kinds = {ix.tenant_id: ix.params for ix in await catalog(conn)}
    assert kinds[big] == {"kind": "ivfflat", "lists": lists_for(3_000)} == {"kind": "ivfflat", "lists": 55}
    assert kinds[mid] == {"kind": "hnsw", "m": 24, "ef_construction": 200}
    assert await maintain(conn, **args) == []  # idempotent
    await session.execute(text("ANALYZE search.entry"))
    # the warm-up: every index; IVFFlat by one query probing every list, HNSW by `queries` searches
    warmed = await warm(conn, queries=5, ef_search=200)
    assert {(w.tenant_id, w.kind, w.queries) for w in warmed} == {(big, "ivfflat", 1), (mid, "hnsw", 5)}
    assert await session.scalar(text("SHOW ivfflat.probes")) == "1"  # reset: nothing left for later queries
    assert await session.scalar(text("SHOW hnsw.ef_search")) == "40"

    repo = SearchRepository(session)
    settings = search_settings.model_copy(update={"exact_search_max_rows": 500, "tenant_index_min_rows": 2_000})
    service = SearchService(session, embedder, tenants, settings)
    for tenant_id, kind in ((big, "ivfflat"), (mid, "hnsw")):
        [vector] = await sample_queries(session, tenant_id, 1)
        sql, params = repo.hnsw_statement(Filters(tenant_id=tenant_id), vector, embedder.model, 10, tenant_index=True)
        assert f"Index Scan using {index_name(tenant_id)}" in await explain(session, sql, params)
        assert f"Index Scan using {index_name(tenant_id)}" in await explain(session, sql, params, generic=True)
        mine = {
            r[0]
            for r in await session.execute(text("SELECT id FROM search.entry WHERE tenant_id = :t"), {"t": tenant_id})
        }
        recalls = []
        for vector in await sample_queries(session, tenant_id, 20):
            hits, plan = await service.nearest(Filters(tenant_id=tenant_id), vector, 10)
            assert plan == f"tenant_{kind}" and len(hits) == 10 and {h.entry_id for h in hits} <= mine
            exact = await repo.exact(Filters(tenant_id=tenant_id), vector, embedder.model, 10)
            recalls.append(len({h.entry_id for h in hits} & {h.entry_id for h in exact}) / 10)
        assert sum(recalls) / len(recalls) >= 0.95, (kind, recalls)
    # the probe statement sets ivfflat.probes for the IVFFlat scan after it (transaction-local): enough of the
    # 55 lists of ~54.5 rows to compare 300 rows -> 6
    probe = await repo.probe_or_exact(
        Filters(tenant_id=big), vector, embedder.model, 10, cap=500, ef_search=40, ivfflat_scan_rows=300
    )
    assert (probe.index_kind, probe.ivfflat_probes) == ("ivfflat", 6)
    assert await session.scalar(text("SHOW ivfflat.probes")) == "6"
    probe = await repo.probe_or_exact(
        Filters(tenant_id=big), vector, embedder.model, 10, cap=500, ef_search=40, ivfflat_scan_rows=10**6
    )
    assert await session.scalar(text("SHOW ivfflat.probes")) == "55"  # at most every list

    # the HNSW tenant grows past the threshold: rebuilt as IVFFlat; the IVFFlat one shrinks below it but stays
    # above half of it: kept (hysteresis), and its lists are not rebuilt for a growth within LISTS_TOLERANCE
    await grow(session, mid, 400)
    await session.execute(
        text("DELETE FROM search.entry WHERE id IN (SELECT id FROM search.entry WHERE tenant_id = :t LIMIT 1500)"),
        {"t": big},
    )
    assert [(a.tenant_id, a.action) for a in await maintain(conn, **args)] == [(mid, "rebuilt")]
    kinds = {ix.tenant_id: ix.params for ix in await catalog(conn)}
    assert kinds[mid] == {"kind": "ivfflat", "lists": lists_for(2_600)} and kinds[big]["lists"] == 55
    assert fits(kinds[big], {"kind": "ivfflat", "lists": lists_for(1_500)})  # 39 lists wanted: 55 within 1.5x
    # grown past the tolerance (sqrt(rows) > 1.5 x 55 lists): rebuilt with lists = sqrt(rows)
    await grow(session, big, 1_500)
    await grow(session, big, 3_000)
    await grow(session, big, 1_000)
    rows = await session.scalar(text("SELECT count(*) FROM search.entry WHERE tenant_id = :t"), {"t": big})
    assert rows == 7_000 and lists_for(rows) == 84
    assert [(a.tenant_id, a.action) for a in await maintain(conn, **args)] == [(big, "rebuilt")]
    assert {ix.tenant_id: ix.params for ix in await catalog(conn)}[big] == {"kind": "ivfflat", "lists": 84}
    assert [ix.suffix for ix in await catalog(conn) if ix.tenant_id in (big, mid)] == ["", ""]

    # what the warm-up's IVFFlat query reads: every page of the index
    assert [w.tenant_id for w in await warm(conn, queries=5, ef_search=200, only={big})] == [big]
    await session.execute(text("SET LOCAL ivfflat.probes = 84"))
    [vector] = await sample_queries(session, big, 1)
    sql, params = repo.hnsw_statement(Filters(tenant_id=big), vector, embedder.model, 10, tenant_index=True)
    analyzed = [r[0] for r in await session.execute(text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql), params)]
    touched = max(
        sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", line)) for line in analyzed if "Buffers" in line
    )
    pages = await session.scalar(
        text("SELECT pg_relation_size(to_regclass(:n)) / 8192"), {"n": f"search.{index_name(big)}"}
    )
    assert touched >= pages, analyzed
