"""Stream consumers and the outbox relay of the auth service: `python -m services.auth.worker`."""

from __future__ import annotations

import asyncio

from services.auth.base import Outbox, ProcessedEvent
from services.auth.config import get_settings
from shared.events.worker import ConsumerSpec, run_worker

# The streams this service consumes: ConsumerSpec(stream=..., handler=...) (see docs/events.md).
CONSUMERS: list[ConsumerSpec] = []


def main() -> None:
    asyncio.run(run_worker(get_settings(), Outbox, ProcessedEvent, CONSUMERS))


if __name__ == "__main__":
    main()
