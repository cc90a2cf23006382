"""Per-tenant partial vector indexes: one `... WHERE tenant_id = '<uuid>'` for each tenant with at least
`SEARCH_TENANT_INDEX_MIN_ROWS` rows, so a large tenant's vector search scans an index of its own rows only (no
post-filter) on pgvector 0.6, which has no iterative scans. HNSW (m / ef_construction from the settings) up
to `SEARCH_TENANT_IVFFLAT_MIN_ROWS` rows, IVFFlat (lists = sqrt(rows)) from there: on the 1M bench ~3.5% of a
234k-row tenant's HNSW graph could not be reached at any ef_search (m=16 or 32), and a query could land in a
wrong region (0 of 10); IVFFlat scans whole lists, so it has no reachability problem, and builds in seconds.

Built with CREATE INDEX CONCURRENTLY (writes go on), named from the tenant id (`ix_entry_hnsw_t_<hex>`),
found by the planner through the catalog (`indisvalid`), so there is no state of our own to drift. A run
(`maintain`) is idempotent: it builds the missing ones, largest tenant first; rebuilds an index of the other
kind, or whose `m` / `ef_construction` (pg_class.reloptions) differ from the configured ones, or whose `lists`
is off by more than LISTS_TOLERANCE from sqrt(rows) (built under `<name>_new`, swapped in
by two renames in one statement, the old one then dropped CONCURRENTLY: the tenant always has an index);
drops invalid leftovers of an interrupted build and the indexes of tenants that shrank below half the
threshold (or have no rows left). Only one process maintains at a time (advisory lock). `warm` reads the
indexes into shared buffers after a Postgres start (a cold first query took 16-190 ms). See docs/search.md.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.search.config import SearchSettings
from shared.db import create_engine
from shared.logging import get_logger

log = get_logger("search.vector_indexes")

PREFIX = "ix_entry_hnsw_t_"
LOCK_KEY = 0x5EA2C8  # pg_advisory_lock key: one maintainer at a time
NEW, OLD = "_new", "_old"  # a rebuild's staging names: `<name>_new` is built, swapped in, `<name>_old` dropped
HNSW_DEFAULTS = {"m": 16, "ef_construction": 64}  # pgvector's, for an index built without WITH (...)
IVFFLAT_DEFAULTS = {"lists": 100}
LISTS_TOLERANCE = 1.5  # an IVFFlat index is rebuilt once sqrt(rows) is 1.5x its lists (rows x 2.25) or 1/1.5
GLOBAL_INDEX = "ix_entry_embedding_hnsw"  # migration 0002's, dropped by 0004; used by the query path if present


def index_name(tenant_id: uuid.UUID) -> str:
    """Deterministic and at most 48 characters (Postgres allows 63)."""
    return PREFIX + uuid.UUID(str(tenant_id)).hex


def tenant_of(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=name.removeprefix(PREFIX)) if name.startswith(PREFIX) else None
    except ValueError:
        return None


def tenant_literal(tenant_id: uuid.UUID) -> str:
    """The tenant as a SQL literal: a partial index predicate only matches a constant, never a `$1`
    (a prepared statement's generic plan could not use the index). Safe: it is re-parsed as a UUID."""
    return f"'{uuid.UUID(str(tenant_id))}'::uuid"


def lists_for(rows: int) -> int:
    """IVFFlat lists for a tenant of `rows` rows: sqrt(rows) (pgvector's advice above 1M rows; below it
    rows / 1000 would make lists of 1000 rows, twice the scan per probe at this size)."""
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


@dataclass
class IndexAction:
    tenant_id: uuid.UUID
    action: str  # "created" | "rebuilt" | "dropped" | "dropped_invalid" | "dropped_stale" | "failed"
    rows: int
    seconds: float = 0.0
    size_bytes: int = 0
    error: str | None = None


async def existing(conn: AsyncConnection) -> dict[uuid.UUID, bool]:
    """tenant -> index is valid, for every per-tenant HNSW index in the catalog."""
    rows = await conn.execute(
        text(
            "SELECT c.relname, i.indisvalid AND i.indisready AS ok FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'search' AND c.relname LIKE :prefix"
        ),
        {"prefix": PREFIX + "%"},
    )
    found = {}
    for name, ok in rows:
        tenant_id = tenant_of(name)
        if tenant_id is not None:
            found[tenant_id] = bool(ok)
    return found


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


async def catalog(conn: AsyncConnection) -> list[CatalogIndex]:
    """Every per-tenant vector index, staging names of a rebuild included, with its kind and build parameters."""
    rows = await conn.execute(
        text(
            "SELECT c.relname, i.indisvalid AND i.indisready AS ok, c.reloptions, a.amname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_am a ON a.oid = c.relam WHERE n.nspname = 'search' AND c.relname LIKE :prefix"
        ),
        {"prefix": PREFIX + "%"},
    )
    found = []
    for name, ok, reloptions, kind in rows:
        suffix = next((s for s in (NEW, OLD) if name.endswith(s)), "")
        tenant_id = tenant_of(name.removesuffix(suffix) if suffix else name)
        if tenant_id is not None:
            found.append(CatalogIndex(tenant_id, suffix, bool(ok), build_params(reloptions, kind)))
    return found


def fits(params: dict, want: dict) -> bool:
    """An index with `params` may stay for `want`: same kind, the same HNSW graph parameters, IVFFlat lists
    within LISTS_TOLERANCE (a growing tenant is not rebuilt on every pass)."""
    if params.get("kind") != want["kind"]:
        return False
    if want["kind"] == "ivfflat":
        return want["lists"] / LISTS_TOLERANCE <= params["lists"] <= want["lists"] * LISTS_TOLERANCE
    return params == want


async def tenant_rows(conn: AsyncConnection) -> dict[uuid.UUID, int]:
    """Rows per tenant (an index-only scan of ix_entry_tenant_source_created; tombstones included)."""
    rows = await conn.execute(text("SELECT tenant_id, count(*) FROM search.entry GROUP BY tenant_id"))
    return {tid: int(n) for tid, n in rows}


async def index_size(conn: AsyncConnection, tenant_id: uuid.UUID) -> int:
    size = await conn.scalar(
        text("SELECT pg_relation_size(to_regclass(:name))"), {"name": f"search.{index_name(tenant_id)}"}
    )
    return int(size or 0)


async def maintain(
    conn: AsyncConnection,
    *,
    min_rows: int,
    m: int = 16,
    ef_construction: int = 200,
    build_memory: str | None = None,
    max_builds: int | None = None,
    concurrently: bool = True,
    ivfflat_min_rows: int = 0,
) -> list[IndexAction]:
    """One maintenance pass on an AUTOCOMMIT connection (CONCURRENTLY cannot run in a transaction).
    `ivfflat_min_rows` (0: never): tenants from this size get IVFFlat instead of HNSW (and keep it down to half
    of it). Returns what it did; nothing when another process holds the lock."""
    if not await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}):
        return []
    actions: list[IndexAction] = []
    try:
        if build_memory:
            await conn.execute(text("SELECT set_config('maintenance_work_mem', :v, false)"), {"v": build_memory})
        hnsw = {"kind": "hnsw", "m": int(m), "ef_construction": int(ef_construction)}
        counts = await tenant_rows(conn)
        indexes = await catalog(conn)
        have = {ix.tenant_id: ix.valid for ix in indexes if not ix.suffix}
        current = {ix.tenant_id: ix.params for ix in indexes if not ix.suffix and ix.valid}

        def want_for(tenant_id: uuid.UUID) -> dict:
            rows = counts.get(tenant_id, 0)
            is_ivfflat = current.get(tenant_id, {}).get("kind") == "ivfflat"
            if ivfflat_min_rows and rows >= (ivfflat_min_rows // 2 if is_ivfflat else ivfflat_min_rows):
                return {"kind": "ivfflat", "lists": lists_for(rows)}
            return hnsw

        stale = {tid: params for tid, params in current.items() if not fits(params, want_for(tid))}

        async def drop(tenant_id: uuid.UUID, suffix: str = "") -> None:
            await conn.execute(
                text(
                    f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}IF EXISTS "
                    f"search.{index_name(tenant_id)}{suffix}"
                )
            )

        async def swap_in(tenant_id: uuid.UUID) -> None:
            """`<name>_new` becomes `<name>` in one statement (renaming an index takes SHARE UPDATE EXCLUSIVE:
            reads and writes go on), then the old one is dropped CONCURRENTLY; at every step the tenant has a
            valid index under its deterministic name (the probe's to_regclass)."""
            name = index_name(tenant_id)
            if have.get(tenant_id) is not None:
                await conn.execute(
                    text(
                        f"DO $$BEGIN ALTER INDEX search.{name} RENAME TO {name}{OLD}; "
                        f"ALTER INDEX search.{name}{NEW} RENAME TO {name}; END$$"
                    )
                )
                await drop(tenant_id, OLD)
            else:
                await conn.execute(text(f"ALTER INDEX search.{name}{NEW} RENAME TO {name}"))
            have[tenant_id] = True
            stale.pop(tenant_id, None)

        for tenant_id, valid in list(have.items()):
            rows = counts.get(tenant_id, 0)
            if not valid:
                action = "dropped_invalid"  # an interrupted CONCURRENTLY build leaves an invalid index
            elif rows < min_rows // 2:
                action = "dropped"  # hysteresis: a tenant hovering at the threshold is not rebuilt each pass
            else:
                continue
            await drop(tenant_id)
            actions.append(IndexAction(tenant_id, action, rows))
            log.info("tenant_vector_index_" + action, tenant_id=str(tenant_id), rows=rows)
            del have[tenant_id]
            stale.pop(tenant_id, None)
        # leftovers of a rebuild interrupted midway: `_old` (the swap ran, its drop did not) always goes;
        # a valid `_new` with the configured parameters is swapped in (cheap, not counted as a build), any
        # other `_new` (invalid: killed CONCURRENTLY build; or built for other parameters) is dropped
        for ix in indexes:
            rows = counts.get(ix.tenant_id, 0)
            if ix.suffix == NEW and ix.valid and fits(ix.params, want_for(ix.tenant_id)) and rows >= min_rows // 2:
                await swap_in(ix.tenant_id)
                actions.append(IndexAction(ix.tenant_id, "rebuilt", rows))
                log.info("tenant_vector_index_rebuild_resumed", tenant_id=str(ix.tenant_id), rows=rows, **ix.params)
            elif ix.suffix:
                await drop(ix.tenant_id, ix.suffix)
                actions.append(IndexAction(ix.tenant_id, "dropped_stale", rows))
                log.info("tenant_vector_index_dropped_stale", tenant_id=str(ix.tenant_id), name_suffix=ix.suffix)
        # bounded work: missing indexes first (those tenants are on the slow global path), then rebuilds of
        # indexes built with other parameters, largest tenant first in each, at most `max_builds` in all
        missing = sorted(
            ((tid, n) for tid, n in counts.items() if n >= min_rows and not have.get(tid)),
            key=lambda t: -t[1],
        )
        rebuild = sorted(((tid, counts.get(tid, 0)) for tid in stale), key=lambda t: -t[1])
        for tenant_id, rows in (missing + rebuild)[:max_builds]:
            old_params = stale.get(tenant_id)
            suffix = NEW if old_params else ""
            want = want_for(tenant_id)
            started = time.perf_counter()
            try:
                await conn.execute(
                    text(create_sql(tenant_id, **build_spec(want), concurrently=concurrently, suffix=suffix))
                )
                if old_params:
                    await swap_in(tenant_id)
            except Exception as exc:  # noqa: BLE001 - one tenant's failed build must not stop the others
                actions.append(IndexAction(tenant_id, "failed", rows, error=str(exc)[:300]))
                log.error("tenant_vector_index_failed", tenant_id=str(tenant_id), error=str(exc)[:300])
                continue
            seconds = time.perf_counter() - started
            size = await index_size(conn, tenant_id)
            if old_params:
                actions.append(IndexAction(tenant_id, "rebuilt", rows, seconds, size))
                log.info(
                    "tenant_vector_index_rebuilt",
                    tenant_id=str(tenant_id),
                    rows=rows,
                    seconds=round(seconds, 1),
                    old=old_params,
                    **want,
                )
            else:
                actions.append(IndexAction(tenant_id, "created", rows, seconds, size))
                log.info(
                    "tenant_vector_index_created",
                    tenant_id=str(tenant_id),
                    rows=rows,
                    seconds=round(seconds, 1),
                    **want,
                )
    finally:
        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    return actions


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
    brings the tenant's heap pages in too). After a Postgres restart the first search of a large tenant
    otherwise read its index from the OS (p95 16-29 ms; 70-191 ms from disk)."""
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


async def maintain_forever(settings: SearchSettings, stop: asyncio.Event) -> None:
    """The worker's maintenance loop on its own AUTOCOMMIT connection (a build holds it for minutes; the event
    loop is never blocked, it is all socket I/O): a pass every `tenant_index_interval_seconds`; the indexes
    warmed on start, whenever Postgres restarted (pg_postmaster_start_time, checked every
    `tenant_index_warm_check_seconds`), and each index the pass built."""
    if settings.tenant_index_interval_seconds <= 0:
        return
    engine = create_engine(settings.database_url, 1)
    warmed_for = None  # the postmaster start time the indexes were last warmed for
    next_pass = 0.0
    tick = min(settings.tenant_index_interval_seconds, settings.tenant_index_warm_check_seconds)
    warm_args = {"queries": settings.tenant_index_warm_queries, "ef_search": settings.tenant_index_warm_ef_search}
    try:
        while not stop.is_set():
            try:
                async with engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    started_at = await conn.scalar(text("SELECT pg_postmaster_start_time()"))
                    if started_at != warmed_for:
                        await warm(conn, **warm_args)
                        warmed_for = started_at
                    if time.monotonic() >= next_pass:
                        actions = await maintain(
                            conn,
                            min_rows=settings.tenant_index_min_rows,
                            m=settings.hnsw_m,
                            ef_construction=settings.hnsw_ef_construction,
                            build_memory=settings.tenant_index_build_memory,
                            max_builds=settings.tenant_index_max_builds,
                            ivfflat_min_rows=settings.tenant_ivfflat_min_rows,
                        )
                        next_pass = time.monotonic() + settings.tenant_index_interval_seconds
                        built = {a.tenant_id for a in actions if a.action in ("created", "rebuilt")}
                        if built:
                            await warm(conn, **warm_args, only=built)
            except Exception as exc:  # noqa: BLE001 - maintenance outlives outages; the next pass retries
                log.warning("tenant_vector_index_pass_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            try:
                await asyncio.wait_for(stop.wait(), timeout=tick)
            except TimeoutError:
                pass
    finally:
        await engine.dispose()
