"""Search benchmark: tenant-filtered vector search (exact / HNSW / naive), keyword and hybrid, on a synthetic
clustered corpus spread over tenants of Zipf-skewed sizes.

    python bench/search.py --rows 100000 --tenants 100 --queries 30
    DATABASE_URL=postgresql+asyncpg://... python bench/search.py --rows 1000000   # a server of your own

Prints, per tenant size class: p50/p95 latency in the database, recall@10 against exact search, the plan the
service chose, the naive "unfiltered HNSW then filter" query for comparison, the exact-vs-HNSW crossover,
index build time and size, and keyword / hybrid latency end to end (with the query embedding).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine  # noqa: E402

MODEL = "local:all-MiniLM-L6-v2"
WORDS = [
    "payment",
    "invoice",
    "refund",
    "order",
    "delivery",
    "password",
    "account",
    "card",
    "boleto",
    "pagamento",
    "entrega",
    "pedido",
]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


async def setup_db(url: str | None, workdir: Path) -> tuple[str, object | None]:
    from shared.devstack import EmbeddedPostgres, free_port
    from shared.migrations import upgrade

    pg = None
    if not url:
        pg = EmbeddedPostgres(workdir / "postgres", port=free_port()).start()
        url = pg.url
    head, _, _ = url.rpartition("/")
    name = f"bench_search_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(f"{head}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    db = f"{head}/{name}"
    await asyncio.to_thread(upgrade, "search", db)
    return db, pg


def tenant_sizes(rows: int, tenants: int) -> list[int]:
    """Zipf-like (s=1.1): a few large tenants, a long tail of small ones (each at least 10 rows)."""
    weights = [1 / (i**1.1) for i in range(1, tenants + 1)]
    total = sum(weights)
    sizes = [max(10, int(rows * w / total)) for w in weights]
    sizes[0] += rows - sum(sizes)
    return sizes


async def load(engine, rows: int, tenants: int) -> tuple[list[tuple[uuid.UUID, int]], float, int]:
    sizes = tenant_sizes(rows, tenants)
    ids = [(uuid.uuid4(), n) for n in sizes]
    async with engine.begin() as conn:
        await conn.execute(text("DROP INDEX IF EXISTS search.ix_entry_embedding_hnsw"))
        await conn.execute(text("SELECT setseed(0.1)"))
        for name, count, scale in (("cen", 1000, 1.0), ("sub", 100, 0.5), ("var", 50, 0.25)):
            await conn.execute(
                text(
                    f"CREATE TABLE bench_{name} AS SELECT k, "
                    f"array_agg((random() - 0.5) * {scale} ORDER BY d)::vector(384) AS v "
                    f"FROM generate_series(0, {count - 1}) k, generate_series(1, 384) d GROUP BY k"
                )
            )
    started = time.perf_counter()
    for ordinal, (tid, n) in enumerate(ids):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    """
                    INSERT INTO search.entry (id, tenant_id, source, ref_id, text, ts_config, embedding,
                        embedding_model, embedding_dim, created_at)
                    SELECT gen_random_uuid(), :tid, 'messages', gen_random_uuid(),
                        (CAST(:words AS text[]))[1 + (i * 7) % 12] || ' ' || (CAST(:words AS text[]))[1 + (i * 13) % 12]
                            || ' message ' || i,
                        'english', c.v + s.v + v.v, :model, 384, now() - make_interval(mins => i)
                    FROM generate_series(0, CAST(:n AS int) - 1) g(i)
                    JOIN bench_cen c ON c.k = (:base + i % 10) % 1000
                    JOIN bench_sub s ON s.k = (i / 10) % 100
                    JOIN bench_var v ON v.k = (i / 1000 + :ordinal) % 50
                    """
                ),
                {"tid": tid, "n": n, "base": ordinal * 10, "ordinal": ordinal, "words": WORDS, "model": MODEL},
            )
            await conn.execute(
                text(
                    "INSERT INTO search.tenant_index (tenant_id, embedding_model, embedding_dim, ts_config, "
                    "locale_checked_at) VALUES (:t, :m, 384, 'english', now())"
                ),
                {"t": tid, "m": MODEL},
            )
    print(f"loaded {rows} rows over {tenants} tenants in {time.perf_counter() - started:.1f}s", flush=True)
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("SET maintenance_work_mem = '1GB'"))
        await conn.execute(
            text(
                "CREATE INDEX ix_entry_embedding_hnsw ON search.entry USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = 16, ef_construction = 64)"
            )
        )
    build = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE search.entry"))
        size = await conn.scalar(text("SELECT pg_relation_size('search.ix_entry_embedding_hnsw')"))
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE search.entry"))
    return ids, build, int(size)


async def queries_for(session, tid, n: int) -> list[list[float]]:
    rows = await session.execute(
        text("SELECT embedding::text FROM search.entry WHERE tenant_id = :t ORDER BY random() LIMIT :n"),
        {"t": tid, "n": n},
    )
    rnd = random.Random(3)
    return [[float(x) + rnd.uniform(-0.05, 0.05) for x in r[0].strip("[]").split(",")] for r in rows]


async def bench(args) -> None:
    from services.search.config import SearchSettings
    from services.search.embeddings.base import vector_literal
    from services.search.query.repository import Filters, SearchRepository
    from services.search.query.schemas import SearchQuery
    from services.search.query.service import SearchService
    from services.search.tenants.service import TenantDirectory

    workdir = Path(args.workdir)
    db, pg = await setup_db(os.environ.get("DATABASE_URL") if args.use_env_db else None, workdir)
    engine = create_async_engine(db, pool_size=2)
    try:
        ids, build, size = await load(engine, args.rows, args.tenants)
        print(f"HNSW build (m=16, ef_construction=64): {build:.1f}s, index size {size / 2**20:.1f} MiB\n")
        settings = SearchSettings(database_url=db, exact_search_max_rows=args.exact_cap, auth_url="")
        tenants = TenantDirectory(None)

        class Stub:  # the query vectors are synthetic: the service's own model is not needed to plan
            model, dimensions = MODEL, 384

        by_size = sorted(ids, key=lambda t: t[1])
        picks = {
            "small": by_size[0],
            "p25": by_size[len(by_size) // 4],
            "median": by_size[len(by_size) // 2],
            "p90": by_size[int(len(by_size) * 0.9)],
            "largest": by_size[-1],
        }
        print(
            f"{'tenant':8} {'rows':>7} {'plan':12} {'p50 ms':>7} {'p95 ms':>7} {'recall':>7} | "
            f"{'naive n':>7} {'naive rec':>9} {'naive p50':>9}"
        )
        for label, (tid, n) in picks.items():
            lat, rec, naive_lat, naive_rec, naive_n, plans = [], [], [], [], [], set()
            async with AsyncSession(engine) as session:
                vectors = await queries_for(session, tid, args.queries)
            for vec in vectors:
                async with AsyncSession(engine) as session, session.begin():
                    service = SearchService(session, Stub(), tenants, settings)
                    started = time.perf_counter()
                    hits, plan = await service.nearest(Filters(tenant_id=tid), vec, 10)
                    lat.append((time.perf_counter() - started) * 1000)
                    plans.add(plan)
                    exact = await SearchRepository(session).exact(Filters(tenant_id=tid), vec, MODEL, 10)
                    truth = {h.entry_id for h in exact}
                    rec.append(len({h.entry_id for h in hits} & truth) / max(1, len(truth)))
                async with AsyncSession(engine) as session, session.begin():
                    await session.execute(text("SET LOCAL hnsw.ef_search = 40"))
                    started = time.perf_counter()
                    rows = await session.execute(
                        text(
                            "SELECT id FROM (SELECT id, tenant_id FROM search.entry "
                            "ORDER BY embedding <=> CAST(:q AS vector) LIMIT 40) s WHERE tenant_id = :t LIMIT 10"
                        ),
                        {"q": vector_literal(vec), "t": tid},
                    )
                    got = {r[0] for r in rows}
                    naive_lat.append((time.perf_counter() - started) * 1000)
                    naive_n.append(len(got))
                    naive_rec.append(len(got & truth) / max(1, len(truth)))
            print(
                f"{label:8} {n:7d} {'/'.join(sorted(plans)):12} {pct(lat, 50):7.2f} {pct(lat, 95):7.2f} "
                f"{statistics.mean(rec):7.3f} | {statistics.mean(naive_n):7.1f} {statistics.mean(naive_rec):9.3f} "
                f"{pct(naive_lat, 50):9.2f}",
                flush=True,
            )

        print("\ncrossover (forced plans, p50 ms): rows, exact, hnsw(ef for share)")
        for label, (tid, n) in picks.items():
            ex, hn = [], []
            async with AsyncSession(engine) as session:
                vectors = await queries_for(session, tid, min(args.queries, 15))
            from services.search.query.repository import ef_search_for

            for vec in vectors:
                async with AsyncSession(engine) as session, session.begin():
                    repo = SearchRepository(session)
                    s = time.perf_counter()
                    await repo.exact(Filters(tenant_id=tid), vec, MODEL, 10)
                    ex.append((time.perf_counter() - s) * 1000)
                    ef = ef_search_for(10, n / args.rows, 100)
                    s = time.perf_counter()
                    await repo.hnsw(Filters(tenant_id=tid), vec, MODEL, 10, ef_search=ef, iterative=False)
                    hn.append((time.perf_counter() - s) * 1000)
            print(f"  {label:8} {n:7d} exact {pct(ex, 50):7.2f}  hnsw {pct(hn, 50):7.2f}", flush=True)

        from services.search.embeddings.local import LocalEmbeddings

        provider = LocalEmbeddings()
        await asyncio.to_thread(provider.warm)
        # the index holds synthetic vectors labelled with the local model's name, so planning works end to end
        for mode in ("keyword", "hybrid", "semantic"):
            for label in ("median", "largest"):
                tid, n = picks[label]
                lat = []
                for i in range(args.queries):
                    q = SearchQuery(query=f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]}", mode=mode, limit=10)
                    async with AsyncSession(engine) as session, session.begin():
                        started = time.perf_counter()
                        await SearchService(session, provider, tenants, settings).search(tid, q)
                        lat.append((time.perf_counter() - started) * 1000)
                print(
                    f"end to end {mode:8} {label:8} ({n:7d} rows): p50 {pct(lat, 50):7.2f} ms  "
                    f"p95 {pct(lat, 95):7.2f} ms",
                    flush=True,
                )
    finally:
        await engine.dispose()
        if pg is not None:
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--exact-cap", type=int, default=10_000, help="SEARCH_EXACT_SEARCH_MAX_ROWS")
    parser.add_argument("--use-env-db", action="store_true", help="use DATABASE_URL instead of an embedded server")
    parser.add_argument("--workdir", default=".data/bench-search")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
