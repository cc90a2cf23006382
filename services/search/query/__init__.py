"""Search: semantic (pgvector cosine), keyword (Postgres full text) and hybrid (reciprocal rank fusion)."""
