"""search: entry.hidden_at (a soft-deleted thread's messages, hidden but kept for a restore)

Revision ID: search_0003
Revises: search_0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "search_0003"
down_revision = "search_0002"
branch_labels = None
depends_on = None
SCHEMA = "search"


def upgrade() -> None:
    op.add_column("entry", sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("entry", "hidden_at", schema=SCHEMA)
