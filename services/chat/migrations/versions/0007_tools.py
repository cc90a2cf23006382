"""assistant_tool, and tool calls stored as messages (message.tool_call, message.call_key)

Revision ID: chat_0007
Revises: chat_0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "chat_0007"
down_revision = "chat_0006"
branch_labels = None
depends_on = None
SCHEMA = "chat"


def upgrade() -> None:
    op.create_table(
        "assistant_tool",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("assistant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("secret_name", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_tool")),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_assistant_tool_name", "assistant_tool", ["tenant_id", "assistant_id", "name"], unique=True, schema=SCHEMA
    )
    op.add_column(
        "message", sa.Column("tool_call", postgresql.JSONB(astext_type=sa.Text()), nullable=True), schema=SCHEMA
    )
    op.add_column("message", sa.Column("call_key", sa.String(length=64), nullable=True), schema=SCHEMA)
    op.create_index(
        "uq_message_tenant_call",
        "message",
        ["tenant_id", "call_key"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("call_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_message_tenant_call", table_name="message", schema=SCHEMA)
    op.drop_column("message", "call_key", schema=SCHEMA)
    op.drop_column("message", "tool_call", schema=SCHEMA)
    op.drop_index("uq_assistant_tool_name", table_name="assistant_tool", schema=SCHEMA)
    op.drop_table("assistant_tool", schema=SCHEMA)
