"""Runs a search: embeds the query, picks the vector plan, fuses semantic and keyword lists (RRF)."""

from __future__ import annotations

import time
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.search.config import SearchSettings
from services.search.embeddings.base import EmbeddingProvider
from services.search.embeddings.errors import EmbeddingModelMismatch
from services.search.indexing.models import TenantIndex
from services.search.query.repository import Filters, Hit, SearchRepository, ef_search_for, pgvector_version
from services.search.query.schemas import SearchAnswer, SearchQuery, SearchResult
from services.search.tenants.service import TenantProfiles


class SearchService:
    def __init__(
        self,
        session: AsyncSession,
        provider: EmbeddingProvider,
        tenants: TenantProfiles,
        settings: SearchSettings,
    ) -> None:
        self.session = session
        self.provider = provider
        self.tenants = tenants
        self.settings = settings
        self.repo = SearchRepository(session)

    async def search(self, tenant_id: uuid.UUID, q: SearchQuery) -> SearchAnswer:
        started = time.perf_counter()
        limit = min(q.limit, self.settings.max_limit)
        profile = await self.tenants.profile(self.session, tenant_id)
        filters = Filters(
            tenant_id=tenant_id,
            sources=q.sources,
            sector=q.sector,
            contact_id=q.contact_id,
            thread_id=q.thread_id,
            document_id=q.document_id,
            date_from=q.date_from,
            date_to=q.date_to,
        )
        plan = None
        if q.mode == "keyword":
            hits = await self.repo.keyword(filters, profile.ts_config, q.query, limit)
            for h in hits:
                h.extras["keyword_rank"] = h.score
        elif q.mode == "semantic":
            hits, plan = await self.semantic(filters, profile, q.query, limit, q.similarity_threshold)
            for h in hits:
                h.extras["similarity"] = h.score
        else:
            pool = min(max(limit * 4, 20), 200)
            semantic, plan = await self.semantic(filters, profile, q.query, pool, q.similarity_threshold)
            keyword = await self.repo.keyword(filters, profile.ts_config, q.query, pool)
            hits = rrf([semantic, keyword], ["similarity", "keyword_rank"], self.settings.rrf_k)[:limit]
        rows = await self.repo.rows(
            tenant_id,
            [h.entry_id for h in hits],
            ts_config=profile.ts_config if q.mode != "semantic" else None,
            query=q.query,
        )
        results = []
        for h in hits:
            row = rows.get(h.entry_id)
            if row is None:
                continue
            results.append(
                SearchResult(
                    source=row.source,
                    id=row.ref_id if row.source == "messages" else row.id,
                    score=round(h.score, 6),
                    text=row.text,
                    highlight=row.highlight,
                    thread_id=row.thread_id,
                    document_id=row.document_id,
                    chunk_index=row.chunk_index if row.source == "documents" else None,
                    contact_id=row.contact_id,
                    sector=row.sector,
                    role=row.role,
                    created_at=row.created_at,
                    similarity=_r(h.extras.get("similarity")),
                    keyword_rank=_r(h.extras.get("keyword_rank")),
                )
            )
        return SearchAnswer(
            results=results,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            mode=q.mode,
            limit=limit,
            embedding_model=profile.embedding_model,
            plan=plan,
        )

    def check_model(self, profile: TenantIndex) -> None:
        """Never compare vectors of two models: a model change needs a reindex first."""
        if profile.embedding_model is None or profile.embedding_model == self.provider.model:
            return
        running = ""
        if profile.reindex_status in ("queued", "running"):
            done = profile.reindex_done / profile.reindex_total if profile.reindex_total else 0
            running = f" A reindex is {profile.reindex_status} ({done:.0%}); semantic search is back when it is done."
        raise EmbeddingModelMismatch(
            f"this tenant's index was built with {profile.embedding_model} ({profile.embedding_dim} dimensions) "
            f"but the current embedding model is {self.provider.model} ({self.provider.dimensions} dimensions); "
            f"run POST /api/v1/search/reindex to re-embed, or use mode=keyword meanwhile.{running}",
            indexed_model=profile.embedding_model,
            current_model=self.provider.model,
        )

    async def semantic(
        self, filters: Filters, profile: TenantIndex, query: str, limit: int, threshold: float | None
    ) -> tuple[list[Hit], str | None]:
        self.check_model(profile)
        if profile.embedding_model is None:
            return [], None  # nothing embedded for this tenant yet
        [vector] = await self.provider.embed([query], tenant_id=filters.tenant_id)
        hits, plan = await self.nearest(filters, vector, limit)
        if threshold is not None:
            hits = [h for h in hits if h.score >= threshold]
        return hits, plan

    async def nearest(self, filters: Filters, vector: list[float], limit: int) -> tuple[list[Hit], str]:
        """The `limit` nearest rows of the tenant, by the cheapest plan that is still correct."""
        cap = self.settings.exact_search_max_rows
        model = self.provider.model
        iterative = await pgvector_version(self.session) >= (0, 8, 0)
        # the tenant's own graph: every candidate is the tenant's, no ef_search raised for a share
        tenant_ef = max(self.settings.tenant_index_ef_search, limit)
        probe = await self.repo.probe_or_exact(
            filters,
            vector,
            model,
            limit,
            cap=cap,
            ef_search=tenant_ef,
            iterative=iterative,
            ivfflat_scan_rows=self.settings.tenant_ivfflat_scan_rows,
        )
        if probe.exact is not None:
            return probe.exact, "exact"
        if probe.tenant_index:
            # ef_search / ivfflat.probes and the iterative scan were set by the probe's statement
            hits = await self.repo.hnsw(filters, vector, model, limit, ef_search=None, tenant_index=True)
            plan = f"tenant_{probe.index_kind or 'hnsw'}"
        elif not probe.global_index:
            # above the cap, its own index not built yet (the worker's next pass) and no global one: exact
            return await self.repo.exact(filters, vector, model, limit), "exact_unindexed"
        elif iterative:
            ef = max(self.settings.hnsw_ef_search, limit)
            hits = await self.repo.hnsw(filters, vector, model, limit, ef_search=ef if ef != tenant_ef else None)
            plan = "hnsw_iterative"
        else:
            share = probe.candidates / probe.table_rows  # a lower bound: the probe stops at cap + 1
            ef = ef_search_for(limit, share, max(self.settings.hnsw_ef_search, limit))
            hits = await self.repo.hnsw(filters, vector, model, limit, ef_search=ef)
            plan = "hnsw"
        if len(hits) < limit:
            # The filters left too few of the HNSW candidates: only an exact scan is sure to find `limit`.
            return await self.repo.exact(filters, vector, model, limit), plan + "+exact"
        return hits, plan


def rrf(lists: list[list[Hit]], names: list[str], k: int) -> list[Hit]:
    """Reciprocal rank fusion: score = sum of 1 / (k + rank) over the lists an entry appears in."""
    fused: dict[uuid.UUID, Hit] = {}
    for hits, name in zip(lists, names, strict=True):
        for rank, hit in enumerate(hits, start=1):
            entry = fused.setdefault(hit.entry_id, Hit(hit.entry_id, 0.0))
            entry.score += 1.0 / (k + rank)
            entry.extras[name] = hit.score
    return sorted(fused.values(), key=lambda h: h.score, reverse=True)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
