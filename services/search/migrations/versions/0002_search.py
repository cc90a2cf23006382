"""search: entries with vectors and full text, tenant index state, documents

Revision ID: search_0002
Revises: search_0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision = "search_0002"
down_revision = "search_0001"
branch_labels = None
depends_on = None
SCHEMA = "search"


def upgrade() -> None:
    op.create_table(
        "entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("thread_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("sector", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ts_config", postgresql.REGCONFIG(), server_default=sa.text("'simple'::regconfig"), nullable=False),
        sa.Column(
            "tsv",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector(ts_config, text)", persisted=True),
            nullable=True,
        ),
        sa.Column("embedding", Vector(384), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("embedding_dim", sa.SmallInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("source IN ('messages', 'documents')", name=op.f("ck_entry_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry")),
        sa.UniqueConstraint(
            "tenant_id", "source", "ref_id", "chunk_index", name=op.f("uq_entry_tenant_id_source_ref_id_chunk_index")
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_entry_tenant_source_created", "entry", ["tenant_id", "source", "created_at"], schema=SCHEMA)
    op.create_index("ix_entry_document", "entry", ["document_id", "chunk_index"], schema=SCHEMA)
    op.create_index("ix_entry_tsv", "entry", ["tsv"], postgresql_using="gin", schema=SCHEMA)
    op.create_index(
        "ix_entry_embedding_hnsw",
        "entry",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
        schema=SCHEMA,
    )
    op.create_table(
        "tenant_index",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("embedding_dim", sa.SmallInteger(), nullable=True),
        sa.Column("locale", sa.String(length=20), nullable=True),
        sa.Column("ts_config", sa.String(length=40), server_default=sa.text("'simple'"), nullable=False),
        sa.Column("locale_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reindex_job_id", sa.Uuid(), nullable=True),
        sa.Column("reindex_status", sa.String(length=16), server_default=sa.text("'idle'"), nullable=False),
        sa.Column("reindex_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reindex_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reindex_error", sa.Text(), nullable=True),
        sa.Column("reindex_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reindex_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_index")),
        schema=SCHEMA,
    )
    op.create_table(
        "document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("embedded", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document")),
        schema=SCHEMA,
    )
    op.create_index("ix_document_tenant_created", "document", ["tenant_id", "created_at", "id"], schema=SCHEMA)
    op.create_table(
        "document_blob",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["search.document.id"],
            name=op.f("fk_document_blob_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_document_blob")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("document_blob", schema=SCHEMA)
    op.drop_index("ix_document_tenant_created", table_name="document", schema=SCHEMA)
    op.drop_table("document", schema=SCHEMA)
    op.drop_table("tenant_index", schema=SCHEMA)
    op.drop_index("ix_entry_embedding_hnsw", table_name="entry", schema=SCHEMA)
    op.drop_index("ix_entry_tsv", table_name="entry", schema=SCHEMA)
    op.drop_index("ix_entry_document", table_name="entry", schema=SCHEMA)
    op.drop_index("ix_entry_tenant_source_created", table_name="entry", schema=SCHEMA)
    op.drop_table("entry", schema=SCHEMA)
