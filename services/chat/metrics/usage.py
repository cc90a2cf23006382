"""Token usage, recorded here and only here: every LLM answer (threads, the channel pipeline, /v1/chat/completions)
adds one request and its tokens to the tenant's day and model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.metrics.models import TokenUsage
from shared.db import utcnow


@dataclass(frozen=True)
class Usage:
    """One LLM request's usage (a knowledge-only answer has none: the caller passes no Usage)."""

    tenant_id: uuid.UUID
    model: str
    tokens_in: int | None
    tokens_out: int | None
    day: date = field(default_factory=lambda: utcnow().date())

    @property
    def model_key(self) -> str:
        return (self.model or "")[:200]


async def record_usage(session: AsyncSession, usage: Usage) -> None:
    """The plain path: an upsert in the caller's transaction."""
    stmt = insert(TokenUsage).values(
        tenant_id=usage.tenant_id,
        day=usage.day,
        model=usage.model_key,
        requests=1,
        tokens_in=usage.tokens_in or 0,
        tokens_out=usage.tokens_out or 0,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[TokenUsage.tenant_id, TokenUsage.day, TokenUsage.model],
        set_={
            "requests": TokenUsage.requests + 1,
            "tokens_in": TokenUsage.tokens_in + stmt.excluded.tokens_in,
            "tokens_out": TokenUsage.tokens_out + stmt.excluded.tokens_out,
        },
    )
    await session.execute(stmt)


def usage_upsert_sql(source: str) -> str:
    """`record_usage` as the body of a CTE, for a fast path that folds it into its one statement: a row when `source`
    yields one and `:usage_recorded`; parameters `:tenant_id`, `:usage_day`, `:usage_model`, `:usage_tokens_in`,
    `:usage_tokens_out` (`UsageParams`)."""
    return f"""INSERT INTO {TokenUsage.__table__.fullname} AS u (tenant_id, day, model, requests, tokens_in, tokens_out)
    SELECT :tenant_id, :usage_day, :usage_model, 1, :usage_tokens_in, :usage_tokens_out FROM {source}
    WHERE :usage_recorded
    ON CONFLICT (tenant_id, day, model) DO UPDATE
    SET requests = u.requests + 1, tokens_in = u.tokens_in + excluded.tokens_in,
        tokens_out = u.tokens_out + excluded.tokens_out"""


@dataclass(frozen=True)
class UsageParams:
    """`usage_upsert_sql`'s parameters (besides the tenant) for a Usage, or for none."""

    usage_recorded: bool
    usage_day: date
    usage_model: str
    usage_tokens_in: int
    usage_tokens_out: int

    @classmethod
    def of(cls, usage: Usage | None, day: date) -> UsageParams:
        if usage is None:
            return cls(False, day, "", 0, 0)
        return cls(True, usage.day, usage.model_key, usage.tokens_in or 0, usage.tokens_out or 0)
