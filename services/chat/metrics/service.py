"""Conversation metrics over a date range, for one tenant or (superusers) the platform."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.metrics.schemas import Approval, DayCount, MetricsRead, Tokens

# `:all_tenants OR tenant_id = :tid`: one query shape for both; tid is always bound.
_SCOPE = "(CAST(:all_tenants AS boolean) OR {t}.tenant_id = :tid)"


async def metrics(
    session: AsyncSession, tenant_id: uuid.UUID | None, all_tenants: bool, date_from: date, date_to: date
) -> MetricsRead:
    start = datetime.combine(date_from, time.min, tzinfo=UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)
    p = {"all_tenants": all_tenants, "tid": tenant_id or uuid.UUID(int=0), "start": start, "end": end}
    m, t = _SCOPE.format(t="m"), _SCOPE.format(t="t")
    live = f"JOIN chat.thread t ON t.id = m.thread_id AND t.deleted_at IS NULL AND {t}"

    async def rows(sql: str):
        return (await session.execute(text(sql), p)).all()

    by_role = {
        r[0]: r[1]
        for r in await rows(
            f"SELECT m.role, count(*) FROM chat.message m {live} "
            f"WHERE {m} AND m.created_at >= :start AND m.created_at < :end GROUP BY m.role"
        )
    }
    ((contacts, threads),) = await rows(
        f"SELECT count(DISTINCT m.contact_id), count(DISTINCT m.thread_id) FROM chat.message m {live} "
        f"WHERE {m} AND m.created_at >= :start AND m.created_at < :end"
    )
    ((approved, rejected, pending),) = await rows(
        "SELECT count(*) FILTER (WHERE m.review = 'approved'), count(*) FILTER (WHERE m.review = 'rejected'), "
        "count(*) FILTER (WHERE m.validated_by = 'pending') "
        f"FROM chat.message m {live} WHERE {m} AND m.role = 'assistant' "
        "AND m.created_at >= :start AND m.created_at < :end"
    )
    # Each conversation's first question and first answer (AI or human) in the range.
    firsts = (
        "WITH firsts AS ("
        " SELECT m.thread_id,"
        "  min(m.created_at) FILTER (WHERE m.role = 'user') AS asked,"
        "  min(m.created_at) FILTER (WHERE m.role IN ('assistant', 'agent')) AS answered"
        f" FROM chat.message m {live} WHERE {m} AND m.created_at >= :start AND m.created_at < :end"
        " GROUP BY m.thread_id)"
    )
    wait = "extract(epoch FROM answered - asked)"
    ((median, p90),) = await rows(
        f"{firsts} SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {wait}),"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {wait})"
        " FROM firsts WHERE asked IS NOT NULL AND answered >= asked"
    )
    first_by_day = {
        r[0]: round(r[1], 3)
        for r in await rows(
            f"{firsts} SELECT (asked AT TIME ZONE 'UTC')::date AS day,"
            f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {wait})"
            " FROM firsts WHERE asked IS NOT NULL AND answered >= asked GROUP BY day"
        )
    }
    per_day = [
        DayCount(
            day=r[0],
            messages=r[1],
            threads=r[2],
            contacts=r[3],
            ai_answers=r[4],
            human_answers=r[5],
            first_response_median_seconds=first_by_day.get(r[0]),
        )
        for r in await rows(
            "SELECT (m.created_at AT TIME ZONE 'UTC')::date AS day, count(*), count(DISTINCT m.thread_id), "
            "count(DISTINCT m.contact_id), count(*) FILTER (WHERE m.role = 'assistant'), "
            f"count(*) FILTER (WHERE m.role = 'agent') FROM chat.message m {live} "
            f"WHERE {m} AND m.created_at >= :start AND m.created_at < :end GROUP BY day ORDER BY day"
        )
    ]
    u = _SCOPE.format(t="u")
    ((requests, tin, tout),) = await rows(
        "SELECT coalesce(sum(u.requests), 0), coalesce(sum(u.tokens_in), 0), coalesce(sum(u.tokens_out), 0) "
        f"FROM chat.token_usage u WHERE {u} AND u.day >= CAST(:start AS date) AND u.day < CAST(:end AS date)"
    )
    reviewed = approved + rejected
    return MetricsRead(
        tenant_id=None if all_tenants else tenant_id,
        all_tenants=all_tenants,
        date_from=date_from,
        date_to=date_to,
        unique_contacts=contacts,
        threads=threads,
        messages_by_role={role: by_role.get(role, 0) for role in ("user", "assistant", "agent", "system")},
        ai_answers=by_role.get("assistant", 0),
        human_answers=by_role.get("agent", 0),
        approval=Approval(
            approved=approved,
            rejected=rejected,
            pending=pending,
            approval_rate=round(approved / reviewed, 4) if reviewed else None,
        ),
        first_response_median_seconds=round(median, 3) if median is not None else None,
        first_response_p90_seconds=round(p90, 3) if p90 is not None else None,
        tokens=Tokens(requests=requests, tokens_in=tin, tokens_out=tout),
        per_day=per_day,
    )
