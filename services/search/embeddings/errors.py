"""Embedding errors."""

from shared.errors import Conflict, ServiceUnavailable


class EmbeddingModelMismatch(Conflict):
    code = "embedding_model_mismatch"
    title = "Index built with another embedding model"


class EmbeddingProviderUnavailable(ServiceUnavailable):
    code = "embedding_provider_unavailable"
    title = "Embedding provider unavailable"
