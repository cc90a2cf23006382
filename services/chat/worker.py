"""Stream consumers and the outbox relay of the chat service: `python -m services.chat.worker`."""

from __future__ import annotations

import asyncio
import signal

from services.chat.config import get_settings
from shared.logging import configure_logging, get_logger

log = get_logger("worker")


async def run() -> None:
    settings = get_settings()
    configure_logging(f"{settings.service_name}-worker", settings.log_level, settings.log_json)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker_started")
    await stop.wait()
    log.info("worker_stopped")


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
