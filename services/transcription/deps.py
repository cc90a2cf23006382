"""Dependency aliases of the transcription service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.transcription.jobs.service import JobService
from services.transcription.jobs.storage import FileStore
from shared.db import SessionDep


def get_store(request: Request) -> FileStore:
    return request.app.state.store


StoreDep = Annotated[FileStore, Depends(get_store)]


def get_job_service(request: Request, session: SessionDep, store: StoreDep) -> JobService:
    state = request.app.state
    return JobService(session, state.settings, store, state.tenants, state.egress_guard)


JobServiceDep = Annotated[JobService, Depends(get_job_service)]
