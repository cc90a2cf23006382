"""channel pipeline: message external_id, transcript_status, batch_key

Revision ID: chat_0003
Revises: chat_0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "chat_0003"
down_revision = "chat_0002"
branch_labels = None
depends_on = None
SCHEMA = "chat"


def upgrade() -> None:
    op.add_column("message", sa.Column("external_id", sa.String(length=200), nullable=True), schema=SCHEMA)
    op.add_column("message", sa.Column("transcript_status", sa.String(length=20), nullable=True), schema=SCHEMA)
    op.add_column("message", sa.Column("batch_key", sa.String(length=64), nullable=True), schema=SCHEMA)
    op.create_index("uq_message_tenant_external", "message", ["tenant_id", "external_id"], unique=True,
                    schema=SCHEMA, postgresql_where=sa.text("external_id IS NOT NULL"))
    op.create_index("uq_message_tenant_batch", "message", ["tenant_id", "batch_key"], unique=True,
                    schema=SCHEMA, postgresql_where=sa.text("batch_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_message_tenant_batch", table_name="message", schema=SCHEMA)
    op.drop_index("uq_message_tenant_external", table_name="message", schema=SCHEMA)
    op.drop_column("message", "batch_key", schema=SCHEMA)
    op.drop_column("message", "transcript_status", schema=SCHEMA)
    op.drop_column("message", "external_id", schema=SCHEMA)
