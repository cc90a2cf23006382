"""The vector planner: exact below the cap; above it HNSW, and an exact fallback when HNSW yields too few."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from services.search.query.repository import Filters, ef_search_for
from services.search.query.service import SearchService
from tests.search.conftest import bulk_index


def test_ef_search_grows_as_the_tenant_share_shrinks():
    assert ef_search_for(10, 1.0, 100) == 100
    assert ef_search_for(10, 0.1, 100) == 400
    assert ef_search_for(10, 0.0001, 100) == 1000  # pgvector's maximum


async def test_small_tenant_above_cap_falls_back_to_exact(session, embedder, tenants, search_settings):
    mine, crowd = uuid.uuid4(), uuid.uuid4()
    await bulk_index(session, embedder, mine, [f"question {i} about my payment" for i in range(12)])
    # 3000 rows of another tenant sit right where the query lands, so HNSW's candidates are all theirs
    [vec] = await embedder.embed(["payment problem"])
    literal = "[" + ",".join(str(x) for x in vec) + "]"
    await session.execute(
        text(
            "CREATE TEMP TABLE crowd_noise ON COMMIT DROP AS SELECT k, "
            "array_agg((random() - 0.5) * 0.01 ORDER BY d)::vector(384) AS v "
            "FROM generate_series(1, 3000) k, generate_series(1, 384) d GROUP BY k"
        )
    )
    await session.execute(
        text(
            "INSERT INTO search.entry (id, tenant_id, source, ref_id, text, ts_config, embedding, embedding_model, "
            "embedding_dim, created_at) SELECT gen_random_uuid(), :t, 'messages', gen_random_uuid(), 'x', 'english', "
            "CAST(:v AS vector) + v, :m, 384, now() FROM crowd_noise"
        ),
        {"t": crowd, "v": literal, "m": embedder.model},
    )
    # the global HNSW path only exists with a global index (migration 0004 dropped migration 0002's): re-created
    # here, rolled back with the test
    await session.execute(
        text(
            "CREATE INDEX ix_entry_embedding_hnsw ON search.entry USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
    )
    await session.execute(text("ANALYZE search.entry"))
    # on a table this small Postgres would rather sort; make it use the HNSW index as it does at scale
    for knob in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        await session.execute(text(f"SET LOCAL {knob} = off"))
    settings = search_settings.model_copy(update={"exact_search_max_rows": 5, "hnsw_ef_search": 40})
    hits, plan = await SearchService(session, embedder, tenants, settings).nearest(Filters(tenant_id=mine), vec, 10)
    for knob in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        await session.execute(text(f"SET LOCAL {knob} = on"))
    assert plan == "hnsw+exact" and len(hits) == 10
    ids = {r[0] for r in await session.execute(text("SELECT id FROM search.entry WHERE tenant_id = :t"), {"t": mine})}
    assert {h.entry_id for h in hits} <= ids
