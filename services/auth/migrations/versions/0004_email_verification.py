"""email verification: user.email_verified, one-time email tokens, the mail outbox

Existing users start unverified: nothing proves who registered them (docs/auth.md).

Revision ID: auth_0004
Revises: auth_0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "auth_0004"
down_revision = "auth_0003"
branch_labels = None
depends_on = None
SCHEMA = "auth"


def upgrade() -> None:
    op.add_column(
        "user", sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False), schema=SCHEMA
    )
    op.add_column("user", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.create_table(
        "email_token",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_token_token_hash")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_email_token_user_id"), "email_token", ["user_id"], unique=False, schema=SCHEMA)
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("message_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_mail_outbox_due",
        "mail_outbox",
        ["next_attempt_at"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("failed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_due", table_name="mail_outbox", schema=SCHEMA)
    op.drop_table("mail_outbox", schema=SCHEMA)
    op.drop_index(op.f("ix_email_token_user_id"), table_name="email_token", schema=SCHEMA)
    op.drop_table("email_token", schema=SCHEMA)
    op.drop_column("user", "email_verified_at", schema=SCHEMA)
    op.drop_column("user", "email_verified", schema=SCHEMA)
