"""Search request and answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

Source = Literal["messages", "documents"]
Mode = Literal["semantic", "keyword", "hybrid"]


class SearchQuery(BaseModel):
    query: str = Field(..., min_length=1, max_length=2000)
    sources: list[Source] | None = Field(None, max_length=2, description="default: both")
    mode: Mode = "hybrid"
    sector: str | None = Field(None, max_length=100)
    contact_id: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    limit: int = Field(10, ge=1, le=1000, description="capped at SEARCH_MAX_LIMIT (default 50)")
    similarity_threshold: float | None = Field(None, ge=0, le=1, description="minimum cosine similarity")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must not be blank")
        return value

    @model_validator(mode="after")
    def _dates(self) -> SearchQuery:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        if self.sources is not None and not self.sources:
            raise ValueError("sources must name at least one of messages, documents")
        return self


class InternalSearchQuery(SearchQuery):
    tenant_id: uuid.UUID


class SearchResult(BaseModel):
    source: Source
    id: uuid.UUID  # the message id, or the document chunk's id
    score: float
    text: str
    highlight: str | None = None  # the matched passage with <b>..</b> around the query's words (keyword/hybrid)
    thread_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    chunk_index: int | None = None
    contact_id: uuid.UUID | None = None
    sector: str | None = None
    role: str | None = None
    created_at: datetime
    similarity: float | None = None  # cosine similarity when the semantic search found it
    keyword_rank: float | None = None  # full-text rank when the keyword search found it


class SearchAnswer(BaseModel):
    results: list[SearchResult]
    took_ms: float
    mode: Mode
    limit: int
    embedding_model: str | None = None
    # how the vector search ran: exact | tenant_hnsw | tenant_ivfflat | exact_unindexed | hnsw | hnsw_iterative,
    # "+exact" when the index scan yielded too few rows
    plan: str | None = None
