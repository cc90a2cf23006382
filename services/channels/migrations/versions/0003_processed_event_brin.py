"""processed_event: a BRIN index on processed_at, for pruning rows past EVENTS_PROCESSED_RETENTION_HOURS

Revision ID: channels_0003
Revises: channels_0002
Create Date: 2026-12-02
"""

from alembic import op

revision = "channels_0003"
down_revision = "channels_0002"
branch_labels = None
depends_on = None
SCHEMA = "channels"


def upgrade() -> None:
    # BRIN: rows arrive in processed_at order, the index is a few pages and costs the insert path next to nothing.
    op.create_index(
        "ix_processed_event_processed_at", "processed_event", ["processed_at"], schema=SCHEMA, postgresql_using="brin"
    )


def downgrade() -> None:
    op.drop_index("ix_processed_event_processed_at", table_name="processed_event", schema=SCHEMA)
