"""How one stream consumer reads, retries and dead-letters: one object, built from the service's settings."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import ServiceSettings


@dataclass(frozen=True)
class ConsumerSettings:
    """One consumer's knobs (docs/events.md, "Consuming"); `from_service` fills them from EVENTS_* in one place."""

    stream: str
    group: str  # one consumer group per service: the service name
    consumer_name: str  # unique per process (`<host>-<pid>`)
    max_deliveries: int = 5  # EVENTS_MAX_DELIVERIES: failed deliveries before the DLQ
    claim_idle_ms: int = 30_000  # EVENTS_CLAIM_IDLE_MS: idle time before XAUTOCLAIM takes an entry over
    retry_backoff_ms: int = 500  # first retry's delay, doubling, capped at claim_idle_ms
    batch: int = 10  # entries per read
    block_ms: int = 1_000  # how long a read waits for new entries (and shutdown at most)
    concurrency: int = 1  # handlers of a batch at once (> 1: no stream order)
    dlq_maxlen: int = 10_000  # EVENTS_DLQ_MAXLEN
    idle_consumer_ms: int = 24 * 3600 * 1000  # members idle this long with nothing pending are removed
    max_unacked_deliveries: int | None = None  # deliveries without ack nor failure: poison (default 3 × max)

    def __post_init__(self) -> None:
        if self.max_deliveries < 1 or self.concurrency < 1 or self.batch < 1:
            raise ValueError("max_deliveries, concurrency and batch must be >= 1")

    @property
    def poison_after(self) -> int:
        """Delivered this often with neither ack nor recorded failure: its consumers keep dying on it (poison)."""
        return self.max_unacked_deliveries or 3 * self.max_deliveries

    @property
    def dlq(self) -> str:
        return f"{self.stream}.dlq"

    @classmethod
    def from_service(
        cls,
        settings: ServiceSettings,
        stream: str,
        consumer_name: str,
        *,
        group: str | None = None,
        max_deliveries: int | None = None,
        claim_idle_ms: int | None = None,
        retry_backoff_ms: int = 500,
        batch: int = 10,
        block_ms: int = 1_000,
        concurrency: int = 1,
    ) -> ConsumerSettings:
        """The service's EVENTS_* settings, with a stream's own knobs (shared/events/worker.py ConsumerSpec)."""
        return cls(
            stream=stream,
            group=group or settings.service_name,
            consumer_name=consumer_name,
            max_deliveries=max_deliveries or settings.events_max_deliveries,
            claim_idle_ms=claim_idle_ms or settings.events_claim_idle_ms,
            retry_backoff_ms=retry_backoff_ms,
            batch=batch,
            block_ms=block_ms,
            concurrency=concurrency,
            dlq_maxlen=settings.events_dlq_maxlen,
        )
