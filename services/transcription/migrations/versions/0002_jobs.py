"""jobs and segments

Revision ID: transcription_0002
Revises: transcription_0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "transcription_0002"
down_revision = "transcription_0001"
branch_labels = None
depends_on = None
SCHEMA = "transcription"


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("request_key", sa.String(300), nullable=True),
        sa.Column("correlation", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(40), nullable=True),
        sa.Column("requested_language", sa.String(20), nullable=True),
        sa.Column("speakers_expected", sa.Integer(), nullable=True),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("filename", sa.String(300), nullable=True),
        sa.Column("audio_format", sa.String(20), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(500), nullable=True),
        sa.Column("language", sa.String(20), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("speakers_available", sa.Boolean(), nullable=False),
        sa.Column("notes", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
        sa.UniqueConstraint("tenant_id", "request_key", name=op.f("uq_job_tenant_id_request_key")),
        schema=SCHEMA,
    )
    op.create_index("ix_job_tenant_id_created_at", "job", ["tenant_id", "created_at"], schema=SCHEMA)
    op.create_index(
        "ix_job_running",
        "job",
        ["status", "lease_expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "segment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("speaker", sa.String(100), nullable=True),
        sa.Column("words", postgresql.JSONB(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], [f"{SCHEMA}.job.id"], name=op.f("fk_segment_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment")),
        sa.UniqueConstraint("job_id", "idx", name=op.f("uq_segment_job_id_idx")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("segment", schema=SCHEMA)
    op.drop_index("ix_job_running", table_name="job", schema=SCHEMA)
    op.drop_index("ix_job_tenant_id_created_at", table_name="job", schema=SCHEMA)
    op.drop_table("job", schema=SCHEMA)
