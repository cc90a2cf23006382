"""The search worker's loop that keeps the per-tenant vector indexes built and warm."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from services.search.config import SearchSettings
from services.search.indexing.vector_indexes.maintenance import maintain
from services.search.indexing.vector_indexes.warming import warm
from shared.db import create_engine
from shared.logging import get_logger

log = get_logger("search.vector_indexes")


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
