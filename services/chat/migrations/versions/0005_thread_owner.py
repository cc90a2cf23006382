"""thread.created_by_kind / created_by_id: who started a conversation (a user or an API key; null: a channel)

Revision ID: chat_0005
Revises: chat_0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "chat_0005"
down_revision = "chat_0004"
branch_labels = None
depends_on = None
SCHEMA = "chat"


def upgrade() -> None:
    op.add_column("thread", sa.Column("created_by_kind", sa.String(length=16), nullable=True), schema=SCHEMA)
    op.add_column("thread", sa.Column("created_by_id", sa.String(length=64), nullable=True), schema=SCHEMA)
    # owner=me: a partial index, channel threads (no owner) stay out of it.
    op.create_index(
        "ix_thread_tenant_owner",
        "thread",
        ["tenant_id", "created_by_id", "last_message_at", "id"],
        schema=SCHEMA,
        postgresql_where=sa.text("created_by_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_thread_tenant_owner", table_name="thread", schema=SCHEMA)
    op.drop_column("thread", "created_by_id", schema=SCHEMA)
    op.drop_column("thread", "created_by_kind", schema=SCHEMA)
