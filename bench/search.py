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
import contextlib
import os
import random
import statistics
import subprocess
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


@contextlib.contextmanager
def postgres_options(options: list[str]):
    """Extra `-c` options for the embedded postgres (later `-c` win): the bench needs a larger
    shared_buffers and build memory than the test servers get."""
    real = subprocess.Popen

    def popen(args, *a, **k):
        if str(args[0]).endswith("/postgres"):
            args = [*args, *(x for o in options for x in ("-c", o))]
        return real(args, *a, **k)

    subprocess.Popen = popen  # type: ignore[misc]
    try:
        yield
    finally:
        subprocess.Popen = real  # type: ignore[misc]


async def setup_db(url: str | None, workdir: Path, args) -> tuple[str, object | None]:
    from devtools.embedded import EmbeddedPostgres, free_port
    from shared.migrations import upgrade

    pg = None
    if not url:
        options = [
            f"shared_buffers={args.shared_buffers}",
            f"maintenance_work_mem={args.build_memory}",
            f"max_parallel_maintenance_workers={args.build_workers}",
            "max_worker_processes=16",
            "checkpoint_timeout=30min",
            "max_wal_size=8GB",
        ]
        with postgres_options(options):
            pg = EmbeddedPostgres(workdir / "postgres", port=free_port()).start()
        url = pg.url
    head, _, _ = url.rpartition("/")
    name = args.db_name or f"bench_search_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(f"{head}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        found = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not found:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    db = f"{head}/{name}"
    await asyncio.to_thread(upgrade, "search", db)  # a reused database too (0004 drops the global index)
    return db, pg


def tenant_sizes(rows: int, tenants: int) -> list[int]:
    """Zipf-like (s=1.1): a few large tenants, a long tail of small ones (each at least 10 rows)."""
    weights = [1 / (i**1.1) for i in range(1, tenants + 1)]
    total = sum(weights)
    sizes = [max(10, int(rows * w / total)) for w in weights]
    sizes[0] += rows - sum(sizes)
    return sizes


async def load(engine, rows: int, tenants: int) -> list[tuple[uuid.UUID, int]]:
    sizes = tenant_sizes(rows, tenants)
    ids = [(uuid.uuid4(), n) for n in sizes]
    async with engine.begin() as conn:
        await conn.execute(text("DROP INDEX IF EXISTS search.ix_entry_embedding_hnsw"))
        await conn.execute(text("SELECT setseed(0.1)"))
        for name, count, scale in (("cen", 1000, 1.0), ("sub", 100, 0.5), ("var", 500, 0.25)):
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
                    JOIN bench_var v ON v.k = (i / 1000 + :ordinal) % 500
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
    return ids


async def build_session(conn, args) -> None:
    await conn.execution_options(isolation_level="AUTOCOMMIT")
    await conn.execute(text(f"SET maintenance_work_mem = '{args.build_memory}'"))
    await conn.execute(text(f"SET max_parallel_maintenance_workers = {int(args.build_workers)}"))


async def build_tenant_indexes(engine, args) -> None:
    """The per-tenant partial HNSW indexes, by the worker's maintenance pass (only the missing ones), timed."""
    from services.search.indexing.vector_indexes.catalog import catalog
    from services.search.indexing.vector_indexes.maintenance import maintain

    async with engine.connect() as conn:
        await build_session(conn, args)
        await conn.execute(text("VACUUM ANALYZE search.entry"))
        started = time.perf_counter()
        actions = await maintain(
            conn,
            min_rows=args.tenant_index_min_rows,
            m=args.hnsw_m,
            ef_construction=args.hnsw_ef_construction,
            build_memory=args.build_memory,
            concurrently=False,
            ivfflat_min_rows=args.ivfflat_min_rows,
        )
        seconds = time.perf_counter() - started
        created = [a for a in actions if a.action in ("created", "rebuilt") and a.seconds]
        kinds = {ix.tenant_id: ix.params for ix in await catalog(conn) if not ix.suffix}
        for a in sorted(created, key=lambda a: -a.rows):
            print(
                f"  tenant index {a.rows:8d} rows: {a.action} {kinds.get(a.tenant_id)} {a.seconds:7.1f}s "
                f"{a.size_bytes / 2**20:8.1f} MiB",
                flush=True,
            )
        for a in actions:
            if a.action == "failed":
                print(f"  tenant index {a.rows:8d} rows FAILED: {a.error}", flush=True)
        print(
            f"per-tenant indexes built now (>= {args.tenant_index_min_rows} rows; HNSW m={args.hnsw_m}, "
            f"ef_construction={args.hnsw_ef_construction}; IVFFlat from {args.ivfflat_min_rows} rows, "
            f"{args.build_workers} parallel worker(s)): {len(created)} indexes, {sum(a.rows for a in created)} rows, "
            f"{seconds:.1f}s, {sum(a.size_bytes for a in created) / 2**20:.1f} MiB, load {load_avg()}",
            flush=True,
        )
        n, total = (
            await conn.execute(
                text(
                    "SELECT count(*), coalesce(sum(pg_relation_size(c.oid)), 0) FROM pg_class c "
                    "WHERE c.relkind = 'i' AND c.relname LIKE 'ix_entry_vector_t_%'"
                )
            )
        ).one()
        table = await conn.scalar(text("SELECT pg_table_size('search.entry')"))
        print(
            f"all per-tenant vector indexes: {n}, {int(total) / 2**20:.1f} MiB; table (heap + TOAST) "
            f"{int(table) / 2**20:.1f} MiB",
            flush=True,
        )


async def build_global_index(engine, args) -> None:
    """The global HNSW index of migration 0002 (for the naive baseline and the mid-size path), timed."""
    async with engine.connect() as conn:
        await build_session(conn, args)
        if await conn.scalar(text("SELECT to_regclass('search.ix_entry_embedding_hnsw') IS NOT NULL")):
            size = await conn.scalar(text("SELECT pg_relation_size('search.ix_entry_embedding_hnsw')"))
            print(f"global HNSW index already built: {int(size) / 2**20:.1f} MiB", flush=True)
            return
        started = time.perf_counter()
        await conn.execute(
            text(
                "CREATE INDEX ix_entry_embedding_hnsw ON search.entry USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = 16, ef_construction = 64)"
            )
        )
        seconds = time.perf_counter() - started
        size = await conn.scalar(text("SELECT pg_relation_size('search.ix_entry_embedding_hnsw')"))
        print(
            f"global HNSW build (m=16, ef_construction=64, {args.build_workers} parallel worker(s)): "
            f"{seconds:.1f}s, {int(size) / 2**20:.1f} MiB, load {load_avg()}",
            flush=True,
        )
        await conn.execute(text("ANALYZE search.entry"))


async def drop_global_index(engine) -> None:
    """The product has none since migration 0004: with it the planner may prefer it over a tenant's own index."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("DROP INDEX IF EXISTS search.ix_entry_embedding_hnsw"))
        print("global HNSW index dropped again", flush=True)


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (the server backend), in clock ticks: summed over many queries, its CPU."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # a server on another host: no CPU column
        return 0
    return int(fields[11]) + int(fields[12])


async def queries_for(session, tid, n: int) -> list[list[float]]:
    rows = await session.execute(
        text("SELECT embedding::text FROM search.entry WHERE tenant_id = :t ORDER BY random() LIMIT :n"),
        {"t": tid, "n": n},
    )
    rnd = random.Random(3)
    return [[float(x) + rnd.uniform(-0.05, 0.05) for x in r[0].strip("[]").split(",")] for r in rows]


BUCKETS = [(0, 1_000), (1_000, 5_000), (5_000, 20_000), (20_000, 100_000), (100_000, 10**12)]


def bucket_of(n: int) -> str:
    for lo, hi in BUCKETS:
        if lo <= n < hi:
            return f"{lo // 1000}k-{hi // 1000}k" if hi < 10**12 else f">={lo // 1000}k"
    return "?"


class CachedEmbeddings:
    """The local model's vectors for the bench's query texts, computed ahead: `search()` without the model
    call, i.e. the database part of a real search (planning, SQL, rows, highlights)."""

    def __init__(self, model: str, vectors: dict[str, list[float]]) -> None:
        self.model, self.dimensions, self.vectors = model, 384, vectors

    async def embed(self, texts, *, tenant_id=None):
        return [self.vectors[t] for t in texts]


async def bench(args) -> None:
    from services.search.config import SearchSettings
    from services.search.indexing.vector_indexes.ddl import index_name
    from services.search.query.repository import QUERY_VECTOR, Filters, SearchRepository, vector_param
    from services.search.query.schemas import SearchQuery
    from services.search.query.service import SearchService
    from services.search.tenants.service import TenantDirectory

    print(f"host: {os.cpu_count()} cpus, load {load_avg()}; args {vars(args)}", flush=True)
    workdir = Path(args.workdir)
    db, pg = await setup_db(os.environ.get("DATABASE_URL") if args.use_env_db else None, workdir, args)
    engine = create_async_engine(db, pool_size=2)
    try:
        async with engine.connect() as conn:
            version = await conn.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
            sb = await conn.scalar(text("SHOW shared_buffers"))
        print(f"postgres 16, pgvector {version}, shared_buffers {sb}", flush=True)
        async with engine.connect() as conn:
            ids = [
                (t, int(n))
                for t, n in await conn.execute(text("SELECT tenant_id, count(*) FROM search.entry GROUP BY tenant_id"))
            ]
        if args.db_name and len(ids) == args.tenants:
            print(f"reusing database {args.db_name}: {sum(n for _, n in ids)} rows", flush=True)
        else:
            ids = await load(engine, args.rows, args.tenants)
        await build_tenant_indexes(engine, args)  # the design's indexes first: its numbers do not need the global one
        if args.build_only:
            print(f"\nbuild only: done, load {load_avg()}", flush=True)
            return
        settings = SearchSettings(
            database_url=db,
            exact_search_max_rows=args.exact_cap,
            tenant_index_min_rows=args.tenant_index_min_rows,
            tenant_ivfflat_min_rows=args.ivfflat_min_rows,
            auth_url="",
        )
        if args.ivfflat_scan_rows:
            settings = settings.model_copy(update={"tenant_ivfflat_scan_rows": args.ivfflat_scan_rows})
        if args.warm_indexes:
            from services.search.indexing.vector_indexes.warming import warm

            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                started = time.perf_counter()
                warmed = await warm(
                    conn,
                    queries=settings.tenant_index_warm_queries,
                    ef_search=settings.tenant_index_warm_ef_search,
                )
            print(
                f"warm-up of {len(warmed)} per-tenant indexes ({sum(w.size_bytes for w in warmed) / 2**20:.0f} MiB, "
                f"{sum(w.queries for w in warmed)} queries, HNSW ef_search {settings.tenant_index_warm_ef_search}): "
                f"{time.perf_counter() - started:.1f}s, largest {max((w.seconds for w in warmed), default=0):.1f}s, "
                f"load {load_avg()}",
                flush=True,
            )
        tenants = TenantDirectory(None)

        class Stub:  # the query vectors are synthetic: the service's own model is not needed to plan
            model, dimensions = MODEL, 384

        # every tenant, `--queries` queries each, grouped by tenant size; the same vectors for the naive baseline.
        # The ground truth (exact search) first, untimed; then the timed passes, one per --tenant-ef-search value.
        per_bucket: dict[str, dict] = {}
        queries: dict[uuid.UUID, list[tuple[list[float], set]]] = {}
        ordered = sorted(ids, key=lambda t: t[1]) if not args.skip_tenant_table else []
        for tid, n in ordered:
            b = per_bucket.setdefault(
                bucket_of(n),
                {"tenants": 0, "rows": [], "own_index": 0, "naive_lat": [], "naive_rec": [], "naive_n": []},
            )
            b["tenants"] += 1
            b["rows"].append(n)
            async with AsyncSession(engine) as session:
                vectors = await queries_for(session, tid, args.queries)
                repo = SearchRepository(session)
                queries[tid] = [
                    (vec, {h.entry_id for h in await repo.exact(Filters(tenant_id=tid), vec, MODEL, 10)})
                    for vec in vectors
                ]
                # which index the planner really picks for the tenant_hnsw statement (the label cannot tell)
                sql, params = repo.hnsw_statement(Filters(tenant_id=tid), vectors[0], MODEL, 10, tenant_index=True)
                plan = "\n".join(r[0] for r in await session.execute(text("EXPLAIN " + sql), params))
                b["own_index"] += f"Index Scan using {index_name(tid)} " in plan
        ef_values = [int(x) for x in args.tenant_ef_search.split(",")] if args.tenant_ef_search else []
        passes = [("warm-up", ef_values[0] if ef_values else settings.tenant_index_ef_search)] * args.warm_passes
        passes += [("timed", ef) for ef in ef_values or [settings.tenant_index_ef_search]]
        for kind, ef in passes if ordered else []:
            pass_settings = settings.model_copy(update={"tenant_index_ef_search": ef})
            stats: dict[str, dict] = {}
            load_before = load_avg()
            for tid, n in ordered:
                st = stats.setdefault(
                    bucket_of(n),
                    {"lat": [], "rec": [], "tenant_rec": [], "min_n": 10**9, "plans": set(), "server": 0, "client": 0},
                )
                tenant_rec = []
                for vec, truth in queries[tid]:
                    async with AsyncSession(engine) as session, session.begin():
                        service = SearchService(session, Stub(), tenants, pass_settings)
                        raw = await (await session.connection()).get_raw_connection()
                        pid = raw.driver_connection.get_server_pid()  # no round trip (and no BEGIN yet)
                        server_before, client_before = cpu_ticks(pid), time.process_time()
                        started = time.perf_counter()
                        hits, plan = await service.nearest(Filters(tenant_id=tid), vec, 10)
                        st["lat"].append((time.perf_counter() - started) * 1000)
                        st["client"] += time.process_time() - client_before
                        st["server"] += cpu_ticks(pid) - server_before
                    st["plans"].add(plan)
                    st["min_n"] = min(st["min_n"], len(hits))
                    tenant_rec.append(len({h.entry_id for h in hits} & truth) / max(1, len(truth)))
                st["rec"] += tenant_rec
                st["tenant_rec"].append(statistics.mean(tenant_rec))
            print(
                f"\n{kind} pass: semantic k=10 through SearchService.nearest, every tenant, {args.queries} queries "
                f"each, tenant-index ef_search {ef} (load {load_before} before, {load_avg()} after)"
                "\n| tenant rows | tenants | plan | p50 ms | p95 ms | p99 ms | recall@10 mean | worst tenant "
                "| worst query | fewest rows | server CPU ms/query | client CPU ms/query | own index used |"
                "\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            )
            all_lat, all_rec = [], []
            for label, st in stats.items():
                b = per_bucket[label]
                all_lat += st["lat"]
                all_rec += st["rec"]
                q = len(st["lat"])
                print(
                    f"| {label} ({min(b['rows'])}-{max(b['rows'])}) | {b['tenants']} | {'/'.join(sorted(st['plans']))} "
                    f"| {pct(st['lat'], 50):.2f} | {pct(st['lat'], 95):.2f} | {pct(st['lat'], 99):.2f} "
                    f"| {statistics.mean(st['rec']):.3f} | {min(st['tenant_rec']):.3f} | {min(st['rec']):.1f} "
                    f"| {st['min_n']} | {st['server'] * 1000 / TICKS / q:.2f} | {st['client'] * 1000 / q:.2f} "
                    f"| {b['own_index']} of {b['tenants']} |",
                    flush=True,
                )
            print(
                f"all {len(all_lat)} tenant-filtered queries: p50 {pct(all_lat, 50):.2f} ms, "
                f"p95 {pct(all_lat, 95):.2f} ms, p99 {pct(all_lat, 99):.2f} ms, recall@10 mean "
                f"{statistics.mean(all_rec):.3f}, load {load_avg()}",
                flush=True,
            )

        if args.naive:
            await build_global_index(engine, args)
        for tid, n in ids if per_bucket and args.naive else []:
            b = per_bucket[bucket_of(n)]
            for vec, truth in queries[tid]:
                async with AsyncSession(engine) as session, session.begin():
                    await session.execute(text("SET LOCAL hnsw.ef_search = 40"))
                    started = time.perf_counter()
                    rows = await session.execute(
                        text(
                            "SELECT id FROM (SELECT id, tenant_id FROM search.entry "
                            f"ORDER BY embedding <=> {QUERY_VECTOR} LIMIT 40) s WHERE tenant_id = :t LIMIT 10"
                        ),
                        {"q": vector_param(vec), "t": tid},
                    )
                    got = {r[0] for r in rows}
                    b["naive_lat"].append((time.perf_counter() - started) * 1000)
                    b["naive_n"].append(len(got))
                    b["naive_rec"].append(len(got & truth) / max(1, len(truth)))
        if args.naive:
            await drop_global_index(engine)
        if per_bucket and args.naive:
            print(
                "\nnaive: unfiltered global HNSW (ef_search 40) then WHERE tenant_id, same queries"
                "\n| tenant rows | naive rows returned | naive recall@10 | naive p50 ms | naive p95 ms |"
                "\n|---|---|---|---|---|"
            )
            for label, b in per_bucket.items():
                print(
                    f"| {label} | {statistics.mean(b['naive_n']):.1f} | {statistics.mean(b['naive_rec']):.3f} | "
                    f"{pct(b['naive_lat'], 50):.2f} | {pct(b['naive_lat'], 95):.2f} |",
                    flush=True,
                )

        if args.reachability:
            # each of N stored vectors of the largest tenants as its own query: is the row in its own top 10?
            # (an HNSW graph can hold rows no search reaches; IVFFlat compares every row of a probed list)
            print(f"\nreachability: {args.reachability} stored vectors per tenant as their own query, nearest()")
            for tid, n in sorted(ids, key=lambda t: -t[1])[:4]:
                async with AsyncSession(engine) as session:
                    rows = await session.execute(
                        text(
                            "SELECT id, embedding::text FROM search.entry WHERE tenant_id = :t "
                            "ORDER BY hashtext(id::text) LIMIT :n"
                        ),
                        {"t": tid, "n": args.reachability},
                    )
                    sample = [(r[0], [float(x) for x in r[1].strip("[]").split(",")]) for r in rows]
                found, plans = 0, set()
                for entry_id, vec in sample:
                    async with AsyncSession(engine) as session, session.begin():
                        hits, plan = await SearchService(session, Stub(), tenants, settings).nearest(
                            Filters(tenant_id=tid), vec, 10
                        )
                    found += entry_id in {h.entry_id for h in hits}
                    plans.add(plan)
                print(
                    f"  {n:7d} rows ({'/'.join(sorted(plans))}): {found} of {len(sample)} found "
                    f"({100 * (1 - found / max(1, len(sample))):.1f}% unreachable)",
                    flush=True,
                )
        if args.tenant_table_only:
            print(f"\ndone (tenant table only), load {load_avg()}", flush=True)
            return
        by_size = sorted(ids, key=lambda t: t[1])
        picks = {
            "smallest": by_size[0],
            "median": by_size[len(by_size) // 2],
            "p75": by_size[int(len(by_size) * 0.75)],
            "p90": by_size[int(len(by_size) * 0.9)],
            "largest": by_size[-1],
        }
        print(
            "\nforced plans (p50 ms of the query alone): exact | the tenant's own index at "
            "SEARCH_TENANT_INDEX_EF_SEARCH / SEARCH_TENANT_IVFFLAT_PROBES (recall)"
        )
        for label, (tid, n) in picks.items():
            ex, th, th_rec = [], [], []
            async with AsyncSession(engine) as session:
                vectors = await queries_for(session, tid, min(args.queries, 15))
            has_index = n >= args.tenant_index_min_rows
            for vec in vectors:
                async with AsyncSession(engine) as session, session.begin():
                    repo = SearchRepository(session)
                    f = Filters(tenant_id=tid)
                    s = time.perf_counter()
                    truth = {h.entry_id for h in await repo.exact(f, vec, MODEL, 10)}
                    ex.append((time.perf_counter() - s) * 1000)
                    if has_index:
                        # the probe statement sets ef_search / ivfflat.probes as a search would
                        await repo.probe_or_exact(
                            f,
                            vec,
                            MODEL,
                            10,
                            cap=0,
                            ef_search=settings.tenant_index_ef_search,
                            ivfflat_scan_rows=settings.tenant_ivfflat_scan_rows,
                        )
                        s = time.perf_counter()
                        got = await repo.hnsw(f, vec, MODEL, 10, ef_search=None, iterative=False, tenant_index=True)
                        th.append((time.perf_counter() - s) * 1000)
                        th_rec.append(len({h.entry_id for h in got} & truth) / 10)
            tenant_part = f"{pct(th, 50):7.2f} ({statistics.mean(th_rec):.3f})" if th else "   (no index)"
            print(f"  {label:8} {n:7d} exact {pct(ex, 50):8.2f} | tenant {tenant_part}", flush=True)

        from services.search.embeddings.local import LocalEmbeddings

        provider = LocalEmbeddings()
        await asyncio.to_thread(provider.warm)
        texts = [f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]}" for i in range(args.queries)]
        cached = CachedEmbeddings(provider.model, dict(zip(texts, await provider.embed(texts), strict=True)))
        # the index holds synthetic vectors labelled with the local model's name, so planning works end to end
        print(f"\nsearch() by mode: db = everything but the query embedding; e2e = with it (load {load_avg()})")
        print("| mode | tenant | rows | db p50 | db p95 | e2e p50 | e2e p95 |\n|---|---|---|---|---|---|---|")
        for mode in ("semantic", "keyword", "hybrid"):
            for label in ("median", "p90", "largest"):
                tid, n = picks[label]
                lat = {"db": [], "e2e": []}
                for which, emb in (("db", cached), ("e2e", provider)):
                    for q_text in texts:
                        q = SearchQuery(query=q_text, mode=mode, limit=10)
                        async with AsyncSession(engine) as session, session.begin():
                            started = time.perf_counter()
                            await SearchService(session, emb, tenants, settings).search(tid, q)
                            lat[which].append((time.perf_counter() - started) * 1000)
                print(
                    f"| {mode} | {label} | {n} | {pct(lat['db'], 50):.2f} | {pct(lat['db'], 95):.2f} | "
                    f"{pct(lat['e2e'], 50):.2f} | {pct(lat['e2e'], 95):.2f} |",
                    flush=True,
                )
        print(f"\ndone, load {load_avg()}", flush=True)
    finally:
        await engine.dispose()
        if pg is not None:
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--exact-cap", type=int, default=5_000, help="SEARCH_EXACT_SEARCH_MAX_ROWS")
    parser.add_argument("--tenant-index-min-rows", type=int, default=5_000, help="SEARCH_TENANT_INDEX_MIN_ROWS")
    parser.add_argument("--hnsw-m", type=int, default=16, help="SEARCH_HNSW_M (per-tenant indexes)")
    parser.add_argument("--hnsw-ef-construction", type=int, default=200, help="SEARCH_HNSW_EF_CONSTRUCTION")
    parser.add_argument("--build-memory", default="4GB", help="maintenance_work_mem of the index builds")
    parser.add_argument("--build-workers", type=int, default=1, help="max_parallel_maintenance_workers")
    parser.add_argument("--shared-buffers", default="4GB", help="embedded server only")
    parser.add_argument("--use-env-db", action="store_true", help="use DATABASE_URL instead of an embedded server")
    parser.add_argument("--workdir", default=".data/bench-search")
    parser.add_argument(
        "--naive",
        action="store_true",
        help="build the global HNSW index (timed) for the naive unfiltered-then-filter baseline, drop it after",
    )
    parser.add_argument("--ivfflat-min-rows", type=int, default=50_000, help="SEARCH_TENANT_IVFFLAT_MIN_ROWS")
    parser.add_argument(
        "--ivfflat-scan-rows", type=int, default=0, help="SEARCH_TENANT_IVFFLAT_SCAN_ROWS (0: the setting)"
    )
    parser.add_argument(
        "--warm-indexes", action="store_true", help="the worker's warm-up of the per-tenant indexes before the passes"
    )
    parser.add_argument(
        "--tenant-ef-search",
        help="comma-separated SEARCH_TENANT_INDEX_EF_SEARCH values, one timed every-tenant pass each (default: the "
        "setting)",
    )
    parser.add_argument("--warm-passes", type=int, default=0, help="untimed every-tenant passes first (warm caches)")
    parser.add_argument("--skip-tenant-table", action="store_true", help="skip the every-tenant semantic pass")
    parser.add_argument(
        "--reachability", type=int, default=0, help="N stored vectors of each of the 4 largest tenants as own query"
    )
    parser.add_argument(
        "--tenant-table-only", action="store_true", help="stop after the every-tenant passes (no forced plans, modes)"
    )
    parser.add_argument("--build-only", action="store_true", help="load and build the indexes, measure nothing")
    parser.add_argument("--db-name", help="keep the data in this database; a re-run reuses it (no load, no build)")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
