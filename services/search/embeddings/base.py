"""The embedding provider interface and the registry that picks one by setting."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from services.search.config import SearchSettings

INDEX_DIM = 384  # the dimension of search.entry.embedding: part of the index identity

# Looks up a tenant's own API key (None: use the platform's).
KeyLookup = Callable[[uuid.UUID], Awaitable[str | None]]


class EmbeddingProvider(Protocol):
    """Turns texts into unit vectors of `dimensions` floats."""

    model: str  # stored with every vector, e.g. "local:all-MiniLM-L6-v2"
    dimensions: int

    async def embed(self, texts: list[str], *, tenant_id: uuid.UUID | None = None) -> list[list[float]]: ...


ProviderFactory = Callable[[SearchSettings, KeyLookup | None], EmbeddingProvider]
_REGISTRY: dict[str, ProviderFactory] = {}


def register(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    def deco(factory: ProviderFactory) -> ProviderFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def build_provider(settings: SearchSettings, key_lookup: KeyLookup | None = None) -> EmbeddingProvider:
    """The provider SEARCH_EMBEDDINGS_PROVIDER names."""
    from services.search.embeddings import local, openai  # noqa: F401 - registers the providers

    try:
        factory = _REGISTRY[settings.embeddings_provider]
    except KeyError:
        raise ValueError(
            f"unknown SEARCH_EMBEDDINGS_PROVIDER {settings.embeddings_provider!r}; choose one of {sorted(_REGISTRY)}"
        ) from None
    return factory(settings, key_lookup)


def vector_literal(vec: list[float]) -> str:
    """pgvector's text form; cast with CAST(:v AS vector) in SQL."""
    return "[" + ",".join(f"{x:.7g}" for x in vec) + "]"
