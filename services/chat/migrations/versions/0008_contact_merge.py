"""contact.merged_into_id (a merged contact stays as an alias of its channel address), thread.recipient

Revision ID: chat_0008
Revises: chat_0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "chat_0008"
down_revision = "chat_0007"
branch_labels = None
depends_on = None
SCHEMA = "chat"


def upgrade() -> None:
    op.add_column("contact", sa.Column("merged_into_id", postgresql.UUID(as_uuid=True), nullable=True), schema=SCHEMA)
    op.create_index(
        "ix_contact_tenant_merged_into",
        "contact",
        ["tenant_id", "merged_into_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("merged_into_id IS NOT NULL"),
    )
    op.add_column("thread", sa.Column("recipient", sa.String(length=200), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("thread", "recipient", schema=SCHEMA)
    op.drop_index("ix_contact_tenant_merged_into", table_name="contact", schema=SCHEMA)
    op.drop_column("contact", "merged_into_id", schema=SCHEMA)
