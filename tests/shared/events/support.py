"""Helpers shared by the event-bus tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from services.search.base import ProcessedEvent
from shared.events.consumer import StreamConsumer
from shared.events.consumer_settings import ConsumerSettings
from shared.events.contract import EventType, Stream
from shared.events.handlers import Handler

ROOT = Path(__file__).resolve().parents[3]
PROC = Path(__file__).with_name("proc_worker.py")


async def effects(sm, key: str | None = None) -> list[tuple[str, str]]:
    async with sm() as s:
        sql = "SELECT key, worker FROM public.event_effect"
        rows = await s.execute(text(sql + (" WHERE key = :k" if key else "") + " ORDER BY id"), {"k": key})
        return [tuple(r) for r in rows]


def spawn(stack, *args: str) -> subprocess.Popen:
    """Start tests/shared/events/proc_worker.py as a real separate process on the test servers."""
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, str(PROC), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


class AnyPayload(BaseModel):
    """The event-bus tests' events carry whatever payload a test gives them."""

    model_config = ConfigDict(extra="allow")


def any_event(stream: str, type_: str) -> EventType[AnyPayload]:
    return EventType(Stream(stream), type_, AnyPayload)


def consumer_on(redis, sm, handler: Handler, *, stream: str, processed=ProcessedEvent, **knobs) -> StreamConsumer:
    """A StreamConsumer of `stream` (ConsumerSettings from the knobs: group, consumer_name, block_ms, ...)."""
    return StreamConsumer(redis, sm, processed, handler, ConsumerSettings(stream=stream, **knobs))
