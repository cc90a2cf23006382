"""web chat: channel.public_key (the widget's key) and web_visitor

Revision ID: channels_0004
Revises: channels_0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "channels_0004"
down_revision = "channels_0003"
branch_labels = None
depends_on = None
SCHEMA = "channels"


def upgrade() -> None:
    op.add_column("channel", sa.Column("public_key", sa.String(length=64), nullable=True), schema=SCHEMA)
    op.create_unique_constraint(op.f("uq_channel_public_key"), "channel", ["public_key"], schema=SCHEMA)
    op.create_table(
        "web_visitor",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_visitor")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("web_visitor", schema=SCHEMA)
    op.drop_constraint(op.f("uq_channel_public_key"), "channel", schema=SCHEMA, type_="unique")
    op.drop_column("channel", "public_key", schema=SCHEMA)
