"""Queries on jobs and segments; every one takes tenant_id, except the worker's lease operations on a job id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.transcription.jobs.models import Job, Segment
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page


def _now() -> datetime:
    return datetime.now(UTC)


IN_FLIGHT = ("queued", "processing")


def _claimable(job, now: datetime):
    """Queued, or processing under a lease that ran out (its worker died)."""
    return and_(
        job.deleted_at.is_(None),
        or_(job.status == "queued", and_(job.status == "processing", job.lease_expires_at < now)),
    )


@dataclass(frozen=True)
class TenantUsage:
    """What a tenant holds against its quotas: jobs queued or processing, seconds of audio accepted since `since`."""

    jobs_in_flight: int
    audio_seconds: float


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, job: Job) -> Job:
        self.session.add(job)
        await self.session.flush()
        return job

    async def get(self, tenant_id: uuid.UUID, job_id: uuid.UUID, *, include_deleted: bool = False) -> Job | None:
        stmt = select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id)
        if not include_deleted:
            stmt = stmt.where(Job.deleted_at.is_(None))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_request_key(self, tenant_id: uuid.UUID, request_key: str) -> Job | None:
        stmt = select(Job).where(Job.tenant_id == tenant_id, Job.request_key == request_key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self, tenant_id: uuid.UUID, page: PageParams, status: str | None) -> KeysetPage[Job]:
        """Newest first."""
        stmt = select(Job).where(Job.tenant_id == tenant_id, Job.deleted_at.is_(None))
        if status:
            stmt = stmt.where(Job.status == status)
        return await keyset_page(self.session, stmt, Keyset.created(Job, descending=True), page)

    async def segments(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> list[Segment]:
        stmt = select(Segment).where(Segment.tenant_id == tenant_id, Segment.job_id == job_id).order_by(Segment.idx)
        return list((await self.session.execute(stmt)).scalars())

    async def soft_delete(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> Job | None:
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.tenant_id == tenant_id, Job.deleted_at.is_(None))
            .values(deleted_at=_now(), updated_at=_now())
            .returning(Job)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def usage(self, tenant_id: uuid.UUID, since: datetime) -> TenantUsage:
        """Jobs in flight, and audio seconds of jobs accepted since `since` (all but those cancelled unstarted)."""
        in_flight = and_(Job.status.in_(IN_FLIGHT), Job.deleted_at.is_(None))
        counted_today = and_(Job.created_at >= since, not_(and_(Job.status == "failed", Job.started_at.is_(None))))
        stmt = select(
            func.count().filter(in_flight),
            func.coalesce(func.sum(Job.duration_seconds).filter(counted_today), 0.0),
        ).where(Job.tenant_id == tenant_id, or_(Job.status.in_(IN_FLIGHT), Job.created_at >= since))
        jobs, seconds = (await self.session.execute(stmt)).one()
        return TenantUsage(jobs_in_flight=int(jobs), audio_seconds=float(seconds))

    # --- worker side: leases -------------------------------------------------------------------------

    async def claim_next(self, owner: str, lease_seconds: float) -> Job | None:
        """The next job in the fair order, across tenants (the one query that reads every tenant's queue).

        Among tenants with a claimable job: fewest jobs running first, then the one served longest ago (its
        latest job start; never served first), then its oldest job. SKIP LOCKED lets replicas claim at once
        without ever taking the same job; the UPDATE re-checks the job is still claimable."""
        now = _now()
        queue, other = aliased(Job), aliased(Job)
        waiting = select(queue.tenant_id).where(_claimable(queue, now)).distinct().cte("waiting")
        running = (
            select(func.count())
            .where(
                other.tenant_id == waiting.c.tenant_id,
                other.status == "processing",
                other.lease_expires_at >= now,
                other.deleted_at.is_(None),
            )
            .scalar_subquery()
        )
        served = select(func.max(other.started_at)).where(other.tenant_id == waiting.c.tenant_id).scalar_subquery()
        turns = select(waiting.c.tenant_id, running.label("running"), served.label("served_at")).cte("turns")
        pick = (
            select(queue.id)
            .join(turns, turns.c.tenant_id == queue.tenant_id)
            .where(_claimable(queue, now))
            .order_by(turns.c.running, turns.c.served_at.asc().nulls_first(), queue.created_at, queue.id)
            .limit(1)
            .with_for_update(of=queue, skip_locked=True)
            .scalar_subquery()
        )
        return await self._take(and_(Job.id == pick, _claimable(Job, now)), owner, lease_seconds, now)

    async def claim(self, tenant_id: uuid.UUID, job_id: uuid.UUID, owner: str, lease_seconds: float) -> Job | None:
        """Take a queued job, or a processing one whose worker's lease ran out; None if someone else has it."""
        now = _now()
        return await self._take(
            and_(Job.id == job_id, Job.tenant_id == tenant_id, _claimable(Job, now)), owner, lease_seconds, now
        )

    async def _take(self, where, owner: str, lease_seconds: float, now: datetime) -> Job | None:
        stmt = (
            update(Job)
            .where(where)
            .values(
                status="processing",
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Job.attempts + 1,
                started_at=func.coalesce(Job.started_at, now),
                progress=0,
                error=None,
                updated_at=now,
            )
            .returning(Job)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def heartbeat(self, job_id: uuid.UUID, owner: str, progress: int, lease_seconds: float) -> Job | None:
        """Renew the lease and store progress; None when the job is no longer ours (cancelled or taken over)."""
        now = _now()
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.status == "processing", Job.deleted_at.is_(None))
            .values(
                progress=func.greatest(Job.progress, progress),
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            .returning(Job)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def finish(self, job_id: uuid.UUID, owner: str | None, **values: Any) -> Job | None:
        """Move a job we hold (or, with owner None, any unfinished one) to completed/failed, exactly once."""
        now = _now()
        conditions = [Job.id == job_id, Job.status.in_(("queued", "processing"))]
        if owner is not None:
            conditions.append(Job.lease_owner == owner)
        stmt = (
            update(Job)
            .where(*conditions)
            .values(finished_at=now, updated_at=now, lease_expires_at=None, **values)
            .returning(Job)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def replace_segments(self, job: Job, rows: list[dict[str, Any]]) -> None:
        await self.session.execute(delete(Segment).where(Segment.job_id == job.id, Segment.tenant_id == job.tenant_id))
        if rows:
            self.session.add_all(Segment(job_id=job.id, tenant_id=job.tenant_id, **row) for row in rows)
        await self.session.flush()

    async def stale(self, queued_grace_seconds: float, limit: int = 20) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant_id, job_id) of processing jobs whose worker stopped renewing its lease, and of queued jobs
        nobody picked up within the grace period (the event is the fast path, this table the record)."""
        now = _now()
        stmt = (
            select(Job.tenant_id, Job.id)
            .where(
                Job.deleted_at.is_(None),
                or_(
                    and_(Job.status == "processing", Job.lease_expires_at < now),
                    and_(Job.status == "queued", Job.created_at < now - timedelta(seconds=queued_grace_seconds)),
                ),
            )
            .order_by(Job.created_at)
            .limit(limit)
        )
        return [(t, j) for t, j in (await self.session.execute(stmt)).all()]

    async def webhooks_due(self, max_attempts: int, limit: int = 20) -> list[Job]:
        stmt = (
            select(Job)
            .where(
                Job.status.in_(("completed", "failed")),
                Job.webhook_url.is_not(None),
                Job.webhook_delivered_at.is_(None),
                Job.webhook_attempts < max_attempts,
            )
            .order_by(Job.finished_at)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def mark_webhook(self, job_id: uuid.UUID, *, delivered: bool, error: str | None) -> None:
        await self.session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                webhook_attempts=Job.webhook_attempts + 1,
                webhook_delivered_at=_now() if delivered else None,
                webhook_error=error,
            )
        )
