"""structlog JSON logs with request_id/service/tenant_id; warnings and errors also go to `ops.logs`."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections import deque
from typing import Any

import orjson
import structlog

from shared.events.ops import OPS_STREAM

_SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|auth_token|bot_token|credential|private)", re.I
)
_REDACTED = "[redacted]"


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Secrets never reach a log line, whatever a caller passes."""
    for key in list(event):
        if key != "event" and _SECRET_KEYS.search(key):
            event[key] = _REDACTED
    return event


class OpsLogForwarder:
    """Keeps warnings/errors in a bounded in-memory queue that a task drains into the capped stream."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.pending: deque[dict[str, Any]] = deque(maxlen=1_000)
        self.maxlen = maxlen
        self.redis = None

    def __call__(self, _: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if method in ("warning", "error", "critical", "exception") and self.redis is not None:
            entry = {k: v for k, v in event.items() if k != "exc_info"}
            entry["level"] = "error" if method in ("exception", "critical") else method
            self.pending.append(entry)
        return event

    async def run(self, redis, stop: asyncio.Event) -> None:
        """Drain pending entries to Redis until stopped; losing a log line never fails a request."""
        self.redis = redis
        try:
            while not stop.is_set():
                await self.flush()
                try:
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
                except TimeoutError:
                    pass
            await self.flush()
        finally:
            self.redis = None

    async def flush(self) -> None:
        redis = self.redis
        while self.pending and redis is not None:
            entry = self.pending.popleft()
            fields = {
                "level": str(entry.get("level", "")),
                "service": str(entry.get("service", "")),
                "tenant_id": str(entry.get("tenant_id") or ""),
                "event": str(entry.get("event", ""))[:500],
                "data": orjson.dumps(entry, default=str).decode()[:4000],
            }
            try:
                await redis.xadd(OPS_STREAM, fields, maxlen=self.maxlen, approximate=True)
            except Exception:  # noqa: BLE001 - the log sink must never break the caller
                return


ops_forwarder = OpsLogForwarder()


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """One JSON line per event on stdout; context (request_id, tenant_id) from contextvars."""
    structlog.contextvars.bind_contextvars(service=service)
    renderer = (
        structlog.processors.JSONRenderer(serializer=lambda o, **kw: orjson.dumps(o, default=str).decode())
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            ops_forwarder,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stdout, format="%(message)s")
    # Per-request INFO lines of HTTP clients: httpx2 is the OpenAI SDK's client, twilio dumps every REST call.
    for noisy in ("uvicorn.access", "httpx", "httpx2", "httpcore", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
