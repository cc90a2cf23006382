"""Embedding providers behind one interface, chosen by SEARCH_EMBEDDINGS_PROVIDER."""
