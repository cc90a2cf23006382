"""attachments: chat.attachment (a message's verified images), message.attachment_count, assistant.vision

Revision ID: chat_0006
Revises: chat_0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "chat_0006"
down_revision = "chat_0005"
branch_labels = None
depends_on = None
SCHEMA = "chat"


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_attachment_tenant_message_position",
        "attachment",
        ["tenant_id", "message_id", "position"],
        unique=True,
        schema=SCHEMA,
    )
    # How many images a message carries: the context and the message list load attachments only when it is > 0.
    op.add_column(
        "message",
        sa.Column("attachment_count", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        "assistant", sa.Column("vision", sa.Boolean(), server_default=sa.text("false"), nullable=False), schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_column("assistant", "vision", schema=SCHEMA)
    op.drop_column("message", "attachment_count", schema=SCHEMA)
    op.drop_index("uq_attachment_tenant_message_position", table_name="attachment", schema=SCHEMA)
    op.drop_table("attachment", schema=SCHEMA)
