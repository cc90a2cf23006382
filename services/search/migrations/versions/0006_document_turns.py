"""document: served_at (the worker's last step of it) and the indexes of the fair claim across tenants

Revision ID: search_0006
Revises: search_0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "search_0006"
down_revision = "search_0005"
branch_labels = None
depends_on = None
SCHEMA = "search"


def upgrade() -> None:
    op.add_column("document", sa.Column("served_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.create_index("ix_document_tenant_served", "document", ["tenant_id", "served_at"], schema=SCHEMA)
    op.create_index(
        "ix_document_processing",
        "document",
        ["created_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'processing'"),
    )


def downgrade() -> None:
    op.drop_index("ix_document_processing", table_name="document", schema=SCHEMA)
    op.drop_index("ix_document_tenant_served", table_name="document", schema=SCHEMA)
    op.drop_column("document", "served_at", schema=SCHEMA)
