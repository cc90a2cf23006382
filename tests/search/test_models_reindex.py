"""Model identity: a model change without reindex is a clear error; reindex re-embeds with progress.
The OpenAI provider runs the real `openai` client against a local /v1/embeddings stand-in."""

from __future__ import annotations

import hashlib
import math
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.search.app import create_app
from services.search.config import SearchSettings
from services.search.embeddings.base import build_provider
from services.search.embeddings.errors import EmbeddingProviderUnavailable
from services.search.embeddings.openai import OpenAIEmbeddings
from services.search.indexing.handlers import make_index_handler
from tests.search.conftest import drain, index_message
from tests.support.plugin import app_client, serve_app


class EmbeddingsStandIn:
    """Speaks POST /v1/embeddings: deterministic bag-of-words vectors of the requested dimensions."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    async def embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append({"auth": request.headers.get("authorization"), **body})
        if request.headers.get("authorization") != "Bearer sk-test-platform":
            return JSONResponse({"error": {"message": "bad key", "type": "invalid_request_error"}}, status_code=401)
        dims = int(body.get("dimensions") or 1536)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": _vector(t, dims)} for i, t in enumerate(inputs)]
        return JSONResponse(
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/embeddings", self.embeddings, methods=["POST"])])


def _vector(text: str, dims: int) -> list[float]:
    vec = [0.0] * dims
    for word in text.lower().split():
        h = int(hashlib.sha256(word.strip(".,?!").encode()).hexdigest(), 16)
        vec[h % dims] += 1.0
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [x / norm for x in vec]


async def test_openai_provider_uses_real_client_and_index_dimension(stack):
    standin = EmbeddingsStandIn()
    async with serve_app(standin.app()) as url:
        settings = stack.settings(
            SearchSettings,
            embeddings_provider="openai",
            openai_base_url=f"{url}/v1",
            openai_api_key="sk-test-platform",
        )
        provider = build_provider(settings)
        assert isinstance(provider, OpenAIEmbeddings) and provider.model == "openai:text-embedding-3-small"
        vectors = await provider.embed(["refund my order", "refund my order please"])
        assert len(vectors) == 2 and all(len(v) == 384 for v in vectors)
        assert standin.calls[0]["dimensions"] == 384 and standin.calls[0]["model"] == "text-embedding-3-small"

        # a tenant's own key wins; a wrong one is a readable provider error
        async def own_key(tenant_id):
            return "sk-tenant-own"

        tenant_provider = OpenAIEmbeddings(api_key="sk-test-platform", base_url=f"{url}/v1", key_lookup=own_key)
        try:
            await tenant_provider.embed(["x"], tenant_id=uuid.uuid4())
            raise AssertionError("the tenant's (wrong) key should have been used")
        except EmbeddingProviderUnavailable as exc:
            assert "AuthenticationError" in str(exc)
        assert standin.calls[-1]["auth"] == "Bearer sk-tenant-own"


async def test_model_change_needs_reindex(stack, db_conn, session, embedder, tenants, handler, auth, search_settings):
    tenant = uuid.uuid4()
    h = auth(tenant)
    for text in (
        "refund my order",
        "where is my parcel",
        "reset my password",
        "refund was not received",
        "change delivery address",
        "my parcel is lost",
    ):
        await index_message(handler, session, tenant, text)
    standin = EmbeddingsStandIn()
    async with serve_app(standin.app()) as url:
        openai_settings = search_settings.model_copy(
            update={
                "embeddings_provider": "openai",
                "openai_base_url": f"{url}/v1",
                "openai_api_key": "sk-test-platform",
            }
        )
        async with app_client(create_app(openai_settings), db_conn=db_conn) as search_client:
            r = await search_client.post("/api/v1/search", json={"query": "refund", "mode": "semantic"}, headers=h)
            assert r.status_code == 409, r.text
            problem = r.json()
            assert problem["code"] == "embedding_model_mismatch"
            assert (
                "local:all-MiniLM-L6-v2" in problem["detail"] and "openai:text-embedding-3-small" in problem["detail"]
            )
            assert "/api/v1/search/reindex" in problem["detail"]
            # keyword search needs no vectors and keeps working
            kw = await search_client.post("/api/v1/search", json={"query": "refund", "mode": "keyword"}, headers=h)
            assert kw.status_code == 200 and len(kw.json()["results"]) == 2

            viewer = auth(tenant, role="viewer", scopes=["read"])
            assert (await search_client.post("/api/v1/search/reindex", headers=viewer)).status_code == 403
            job = await search_client.post("/api/v1/search/reindex", headers=h)
            assert job.status_code == 202, job.text
            assert job.json()["status"] == "queued" and job.json()["total"] == 6
            assert job.json()["target_model"] == "openai:text-embedding-3-small"
            again = await search_client.post("/api/v1/search/reindex", headers=h)
            assert again.json()["job_id"] == job.json()["job_id"]  # idempotent while queued

            openai_handler = make_index_handler(build_provider(openai_settings), tenants, openai_settings)
            steps = await drain(session, openai_handler)
            assert steps == 2  # 6 rows, 4 per step (search_settings.embed_batch_rows)
            status = (await search_client.get("/api/v1/search/reindex", headers=h)).json()
            assert status["status"] == "done" and status["progress"] == 100 and status["done"] == 6
            assert status["embedding_model"] == "openai:text-embedding-3-small"

            r = await search_client.post(
                "/api/v1/search", json={"query": "refund order", "mode": "semantic", "limit": 2}, headers=h
            )
            assert r.status_code == 200, r.text
            assert r.json()["results"][0]["text"] == "refund my order"
            assert r.json()["embedding_model"] == "openai:text-embedding-3-small"
