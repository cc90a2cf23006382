"""One maintenance pass over the per-tenant vector indexes: idempotent, one process at a time (advisory lock).

It builds the missing ones, largest tenant first; rebuilds an index of the other kind, or whose `m` /
`ef_construction` differ from the configured ones, or whose `lists` is off by more than LISTS_TOLERANCE from
sqrt(rows) (built under `<name>_new`, swapped in by two renames in one statement, the old one then dropped
CONCURRENTLY: the tenant always has an index); drops invalid leftovers of an interrupted build and the indexes of
tenants that shrank below half the threshold (or have no rows left); renames indexes still under the legacy
prefix (see `adopt_legacy`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.search.indexing.vector_indexes.catalog import catalog, index_size, legacy_names, tenant_rows
from services.search.indexing.vector_indexes.ddl import (
    LEGACY_PREFIX,
    NEW,
    OLD,
    PREFIX,
    build_spec,
    create_sql,
    index_name,
    lists_for,
)
from shared.logging import get_logger

log = get_logger("search.vector_indexes")

# pg_advisory_lock key: one maintainer at a time; the same key as before the rename, so an old worker still
# running during a deploy and a new one never maintain at once
LOCK_KEY = 0x5EA2C8
LISTS_TOLERANCE = 1.5  # an IVFFlat index is rebuilt once sqrt(rows) is 1.5x its lists (rows x 2.25) or 1/1.5


@dataclass
class IndexAction:
    tenant_id: uuid.UUID
    action: str  # "created" | "rebuilt" | "dropped" | "dropped_invalid" | "dropped_stale" | "failed"
    rows: int
    seconds: float = 0.0
    size_bytes: int = 0
    error: str | None = None


def fits(params: dict, want: dict) -> bool:
    """An index with `params` may stay for `want`: same kind, the same HNSW graph parameters, IVFFlat lists
    within LISTS_TOLERANCE (a growing tenant is not rebuilt on every pass)."""
    if params.get("kind") != want["kind"]:
        return False
    if want["kind"] == "ivfflat":
        return want["lists"] / LISTS_TOLERANCE <= params["lists"] <= want["lists"] * LISTS_TOLERANCE
    return params == want


async def adopt_legacy(conn: AsyncConnection, *, concurrently: bool = True) -> list[str]:
    """Migration search_0007 renamed `ix_entry_hnsw_t_*` to `ix_entry_vector_t_*`; a worker of the previous release
    still running during the deploy may build an index under the old name afterwards. Such an index is renamed
    (if the tenant has none under the new name) or dropped (it duplicates one). Returns the legacy names handled."""
    handled = []
    for legacy in await legacy_names(conn):
        name = PREFIX + legacy.removeprefix(LEGACY_PREFIX)
        if await conn.scalar(text("SELECT to_regclass(:n) IS NULL"), {"n": f"search.{name}"}):
            await conn.execute(text(f"ALTER INDEX search.{legacy} RENAME TO {name}"))
            log.info("tenant_vector_index_renamed", old=legacy, new=name)
        else:
            await conn.execute(text(f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}IF EXISTS search.{legacy}"))
            log.info("tenant_vector_index_dropped_legacy", name=legacy)
        handled.append(legacy)
    return handled


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
        await adopt_legacy(conn, concurrently=concurrently)
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
