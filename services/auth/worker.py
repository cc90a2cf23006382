"""Stream consumers, the outbox relay and mail delivery of the auth service: `python -m services.auth.worker`."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from services.auth.base import Outbox, ProcessedEvent
from services.auth.config import AuthSettings, get_settings
from services.auth.mail.delivery import MailDelivery
from services.auth.mail.mailer import mailer_for
from services.auth.verification.repository import EmailTokenRepository
from shared.config import SettingsError
from shared.crypto import SecretBox
from shared.db import create_sessionmaker
from shared.events.worker import ConsumerSpec, create_worker_engine, run_worker, stopping_together
from shared.logging import get_logger

log = get_logger("auth.worker")
PRUNE_EVERY_SECONDS = 3600
KEEP_SPENT = timedelta(days=7)  # spent tokens and failed mail stay a week for whoever investigates

# The streams this service consumes: ConsumerSpec(stream=..., handler=...) (see docs/events.md).
CONSUMERS: list[ConsumerSpec] = []


async def run(settings: AuthSettings, stop: asyncio.Event | None = None) -> None:
    if not settings.secrets_key:
        raise SettingsError("SECRETS_KEY is required by auth's worker (queued mail is encrypted with it)")
    stop = stop or asyncio.Event()
    engine = create_worker_engine(settings.database_url, 2)
    sessionmaker = create_sessionmaker(engine)
    delivery = MailDelivery(
        sessionmaker,
        SecretBox(settings.secrets_key),
        mailer_for(settings),
        poll_seconds=settings.mail_poll_seconds,
        max_attempts=settings.mail_max_attempts,
    )
    try:
        await asyncio.gather(
            stopping_together(stop, run_worker(settings, Outbox, ProcessedEvent, CONSUMERS, stop=stop)),
            stopping_together(stop, delivery.run(stop)),
            stopping_together(stop, housekeeping(sessionmaker, delivery, stop)),
        )
    finally:
        await engine.dispose()


async def housekeeping(sessionmaker, delivery: MailDelivery, stop: asyncio.Event) -> None:
    """Hourly: spent email tokens and failed mail older than a week go."""
    while not stop.is_set():
        try:
            async with sessionmaker() as session, session.begin():
                tokens = await EmailTokenRepository(session).prune(KEEP_SPENT)
            mails = await delivery.prune(KEEP_SPENT)
            if tokens or mails:
                log.info("auth_pruned", email_tokens=tokens, failed_mail=mails)
        except Exception as exc:  # Postgres down: the next pass prunes
            log.warning("auth_prune_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PRUNE_EVERY_SECONDS)


def main() -> None:
    asyncio.run(run(get_settings()))


if __name__ == "__main__":
    main()
