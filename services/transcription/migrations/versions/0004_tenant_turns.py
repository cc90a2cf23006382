"""job: an index on (tenant_id, started_at), for the fair claim's "when was this tenant last served"

Revision ID: transcription_0004
Revises: transcription_0003
Create Date: 2026-12-06
"""

from alembic import op

revision = "transcription_0004"
down_revision = "transcription_0003"
branch_labels = None
depends_on = None
SCHEMA = "transcription"


def upgrade() -> None:
    op.create_index("ix_job_tenant_id_started_at", "job", ["tenant_id", "started_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_job_tenant_id_started_at", table_name="job", schema=SCHEMA)
