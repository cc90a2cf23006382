"""Per-tenant partial vector indexes (`... WHERE tenant_id = '<uuid>'`), so a large tenant's vector search scans an
index of its own rows only, with no post-filter, on pgvector versions without iterative scans.

A tenant with at least `SEARCH_TENANT_INDEX_MIN_ROWS` rows gets one: HNSW (m / ef_construction from the settings)
below `SEARCH_TENANT_IVFFLAT_MIN_ROWS` rows, IVFFlat (lists = sqrt(rows)) from there, because large HNSW graphs
leave rows unreachable and IVFFlat scans whole lists. Each index is named from the tenant alone
(`ix_entry_vector_t_<hex>`, whatever its kind: the kind changes as a tenant grows, the name the query path probes
does not) and found through the catalog, so there is no state of our own to drift.

- `ddl`: names, the tenant literal, CREATE INDEX statements.
- `catalog`: what Postgres holds (kind, build parameters, validity) and rows per tenant.
- `maintenance`: one idempotent pass under an advisory lock (build, rebuild by swap, drop, adopt legacy names).
- `warming`: reads the indexes into shared buffers after a Postgres start.
- `loop`: the worker's maintenance loop.

Why and the measurements: docs/search.md, docs/benchmarks/search.md.
"""
