"""A tenant's upload quotas: jobs in flight and audio minutes per UTC day, checked and taken in one locked step."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.transcription.config import TranscriptionSettings
from services.transcription.jobs.repository import JobRepository
from shared.quotas import enforce, lock_tenant_quota, seconds_until_next_utc_day, start_of_utc_day

JOBS_RETRY_AFTER_SECONDS = 5  # a job in flight usually finishes within seconds to minutes
LOCK = "transcription.jobs"


class JobQuotas:
    def __init__(self, session: AsyncSession, settings: TranscriptionSettings) -> None:
        self.session = session
        self.settings = settings
        self.jobs = JobRepository(session)

    async def check(self, tenant_id: uuid.UUID, audio_seconds: float | None, *, lock: bool = True) -> None:
        """Refuse (429) a job that would pass a quota; with lock, until the caller's transaction ends no other
        upload of this tenant counts, so concurrent uploads cannot overshoot (lock=False: the early check made
        before receiving the body, so a tenant at its limit does not send 200 MB for nothing)."""
        s = self.settings
        if s.tenant_jobs_in_flight <= 0 and s.tenant_minutes_per_day <= 0:
            return
        if lock:
            await lock_tenant_quota(self.session, LOCK, tenant_id)
        usage = await self.jobs.usage(tenant_id, since=start_of_utc_day())
        enforce("jobs_in_flight", s.tenant_jobs_in_flight, usage.jobs_in_flight, retry_after=JOBS_RETRY_AFTER_SECONDS)
        enforce(
            "minutes_per_day",
            s.tenant_minutes_per_day,
            round(usage.audio_seconds / 60, 2),
            round((audio_seconds or 0) / 60, 2),
            unit="minutes",
            retry_after=seconds_until_next_utc_day(),
        )
