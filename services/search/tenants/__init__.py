"""Tenant settings search needs (locale -> text search config, own OpenAI key), cached from auth."""
