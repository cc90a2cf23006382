"""per-tenant vector indexes: `ix_entry_hnsw_t_<hex>` -> `ix_entry_vector_t_<hex>` (IVFFlat ones had `hnsw` too)

Idempotent: only existing old names are renamed, and only where the new name is free (a leftover duplicate is
dropped CONCURRENTLY by the worker's next pass, not here: a plain DROP in this transaction would block writes).
ALTER INDEX ... RENAME takes SHARE UPDATE EXCLUSIVE: reads and writes go on. Staging names (`_new`, `_old`) keep
their suffix.

Revision ID: search_0007
Revises: search_0006
Create Date: 2026-12-06
"""

from alembic import op

revision = "search_0007"
down_revision = "search_0006"
branch_labels = None
depends_on = None

RENAME = """
DO $$
DECLARE old_name text;
BEGIN
    FOR old_name IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'search' AND c.relkind = 'i' AND starts_with(c.relname, '{old}')
    LOOP
        IF to_regclass(format('search.%I', '{new}' || substr(old_name, length('{old}') + 1))) IS NULL THEN
            EXECUTE format('ALTER INDEX search.%I RENAME TO %I', old_name,
                           '{new}' || substr(old_name, length('{old}') + 1));
        END IF;
    END LOOP;
END$$
"""


def upgrade() -> None:
    op.execute(RENAME.format(old="ix_entry_hnsw_t_", new="ix_entry_vector_t_"))


def downgrade() -> None:
    op.execute(RENAME.format(old="ix_entry_vector_t_", new="ix_entry_hnsw_t_"))
