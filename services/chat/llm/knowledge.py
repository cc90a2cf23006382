"""Knowledge from the search service (internal endpoint, service token) and the knowledge-only answer.

Contract (search implements it): POST {CHAT_SEARCH_URL}/internal/v1/search with
`{tenant_id, query, sources: ["documents"], mode: "hybrid", limit, similarity_threshold}` ->
`{results: [{source, id, score, similarity, text, ...}], took_ms, ...}`, best first.

Threshold rule: in hybrid mode `score` is a reciprocal-rank-fusion score (about 1/60, not a similarity), so it
is never compared with CHAT_KNOWLEDGE_THRESHOLD. Search applies `similarity_threshold` to the semantic list
before fusion and reports each result's cosine `similarity` (null when only the keyword search found it). A
result counts as knowledge only when its `similarity` is present and >= the threshold; `KnowledgeHit.score`
is that similarity, and the hits keep search's fused order (semantic and keyword agreement ranks first).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import structlog

from shared.i18n import customer_text

log = structlog.get_logger("knowledge")


def handover_reply(override: str, locale: str, question: str) -> str:
    """What a customer is told when no answer can be given: CHAT_HANDOVER_MESSAGE, else the catalogue's text in
    the customer's language (their question's when clear, else the tenant's locale)."""
    return override or customer_text("handover", locale, question)


@dataclass(frozen=True)
class KnowledgeHit:
    text: str
    score: float
    source: str = "documents"
    id: str | None = None


class SearchUnavailable(Exception):
    """No search configured, or it did not answer."""


class SearchClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, token_provider, timeout: float) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.tokens = token_provider
        self.timeout = timeout

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    async def search(
        self,
        tenant_id: uuid.UUID,
        query: str,
        *,
        limit: int,
        threshold: float,
        sources: tuple[str, ...] = ("documents",),
    ) -> list[KnowledgeHit]:
        """Context passages come from documents; the `search_knowledge` tool also asks for past messages."""
        if not self.base_url:
            raise SearchUnavailable("no search service configured")
        try:
            token = await self.tokens.token()
            resp = await self.http.post(
                f"{self.base_url}/internal/v1/search",
                json={
                    "tenant_id": str(tenant_id),
                    "query": query[:2000],
                    "sources": list(sources),
                    "mode": "hybrid",
                    "limit": limit,
                    "similarity_threshold": threshold,
                },
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
            resp.raise_for_status()
            results = resp.json().get("results") or []
        except Exception as exc:  # noqa: BLE001 - knowledge is optional; the caller decides what to do
            log.warning("search_unavailable", error=type(exc).__name__)
            raise SearchUnavailable(str(type(exc).__name__)) from None
        hits = []
        for r in results[:limit]:
            try:
                similarity = r.get("similarity")
                if similarity is None or float(similarity) < threshold:
                    continue  # a keyword-only match (or below the threshold): not similar enough to answer with
                hits.append(
                    KnowledgeHit(
                        text=str(r["text"]),
                        score=float(similarity),
                        source=str(r.get("source", "")),
                        id=str(r.get("id")) if r.get("id") else None,
                    )
                )
            except (AttributeError, KeyError, TypeError, ValueError):
                continue
        return hits
