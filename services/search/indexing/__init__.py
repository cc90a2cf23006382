"""Indexing: entries (messages and document chunks) with their vectors, and the per-tenant index state."""
