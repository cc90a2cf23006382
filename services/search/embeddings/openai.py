"""OpenAI embeddings (text-embedding-3-small), asked for exactly the index dimension."""

from __future__ import annotations

import math
import uuid

import openai as openai_sdk

from services.search.config import SearchSettings
from services.search.embeddings.base import INDEX_DIM, KeyLookup, register
from services.search.embeddings.errors import EmbeddingProviderUnavailable
from shared.providers import resolve_endpoint

_MAX_INPUTS = 256  # per request; OpenAI accepts up to 2048


class OpenAIEmbeddings:
    """Any OpenAI-compatible /v1/embeddings endpoint; a tenant's own key wins over the platform key."""

    def __init__(
        self,
        *,
        model: str = "text-embedding-3-small",
        api_key: str = "",
        base_url: str = "",
        key_lookup: KeyLookup | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.model_name = model
        self.model = f"openai:{model}"
        self.dimensions = INDEX_DIM
        self.api_key = api_key
        self.base_url = base_url or None
        self.key_lookup = key_lookup
        self.timeout = timeout
        self._clients: dict[str, openai_sdk.AsyncOpenAI] = {}

    def _client(self, key: str) -> openai_sdk.AsyncOpenAI:
        client = self._clients.get(key)
        if client is None:
            client = openai_sdk.AsyncOpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=2)
            if len(self._clients) > 1000:
                self._clients.clear()
            self._clients[key] = client
        return client

    async def _key(self, tenant_id: uuid.UUID | None) -> str:
        key = None
        if tenant_id is not None and self.key_lookup is not None:
            key = await self.key_lookup(tenant_id)
        # Only the platform's URL exists here (no tenant base URL): the tenant's key wins, else the platform's.
        key = resolve_endpoint(platform_url=self.base_url or "", platform_key=self.api_key, tenant_key=key).api_key
        if not key:
            raise EmbeddingProviderUnavailable("no OpenAI API key: set SEARCH_OPENAI_API_KEY or the tenant's secret")
        return key

    async def embed(self, texts: list[str], *, tenant_id: uuid.UUID | None = None) -> list[list[float]]:
        if not texts:
            return []
        client = self._client(await self._key(tenant_id))
        out: list[list[float]] = []
        for start in range(0, len(texts), _MAX_INPUTS):
            batch = [t if t.strip() else " " for t in texts[start : start + _MAX_INPUTS]]
            try:
                resp = await client.embeddings.create(model=self.model_name, input=batch, dimensions=self.dimensions)
            except openai_sdk.APIError as exc:
                raise EmbeddingProviderUnavailable(f"embedding request failed: {type(exc).__name__}") from exc
            data = sorted(resp.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise EmbeddingProviderUnavailable("embedding response has a different number of vectors")
            for item in data:
                vec = list(item.embedding)
                if len(vec) != self.dimensions:
                    raise EmbeddingProviderUnavailable(
                        f"provider returned {len(vec)} dimensions, the index needs {self.dimensions}"
                    )
                norm = math.sqrt(sum(x * x for x in vec)) or 1.0
                out.append([x / norm for x in vec])
        return out


@register("openai")
def _factory(settings: SearchSettings, key_lookup: KeyLookup | None) -> OpenAIEmbeddings:
    return OpenAIEmbeddings(
        model=settings.openai_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        key_lookup=key_lookup,
    )
