"""search: drop the global HNSW index on entry.embedding (every tenant above the exact-scan cap has a partial
index of its own, built by the worker; the global one only competed with them in the planner)

pgvector 0.6 costs an HNSW scan as (entry level + 2) x m whatever the index's predicate, so a per-tenant index
with m > 16, or an IVFFlat one, lost to this m=16 index for a large tenant, whose search then post-filtered the
global graph (docs/search.md, "Per-tenant partial vector indexes"). Without it a tenant above the cap that has no index
yet (until the next maintenance pass) is searched exactly. 1M bench: 1953 MiB, 536 s to build, one more graph
insert per row.

Revision ID: search_0004
Revises: search_0003
Create Date: 2026-12-01
"""

from alembic import op

revision = "search_0004"
down_revision = "search_0003"
branch_labels = None
depends_on = None
SCHEMA = "search"


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS search.ix_entry_embedding_hnsw")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_entry_embedding_hnsw ON search.entry USING hnsw (embedding vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 64)"
    )
