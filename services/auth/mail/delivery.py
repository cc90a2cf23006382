"""Auth's worker delivers queued mail: due rows claimed FOR UPDATE SKIP LOCKED, sent, deleted; failures back off."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.mail.mailer import Mailer, MailRejected
from services.auth.mail.models import MailOutbox
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.logging import get_logger

log = get_logger("mail.delivery")
MAX_BACKOFF_SECONDS = 900


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 ... seconds, at most 15 minutes between tries: 20 tries span about three hours."""
    return timedelta(seconds=min(2**attempts, MAX_BACKOFF_SECONDS))


class MailDelivery:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        mailer: Mailer,
        *,
        poll_seconds: float = 2.0,
        max_attempts: int = 20,
        batch: int = 10,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.mailer = mailer
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.batch = batch

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                sent = await self.deliver_due()
            except Exception as exc:  # Postgres down: try again on the next pass, the rows are still there
                log.warning("mail_pass_failed", error=type(exc).__name__)
                sent = 0
            if sent < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def deliver_due(self) -> int:
        """One pass over due mail; returns how many were sent."""
        sent = 0
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.scalars(
                    select(MailOutbox)
                    .where(MailOutbox.failed_at.is_(None), MailOutbox.next_attempt_at <= utcnow())
                    .order_by(MailOutbox.next_attempt_at)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                if await self._send(row):
                    await session.delete(row)
                    sent += 1
        return sent

    async def _send(self, row: MailOutbox) -> bool:
        try:
            message = email.message_from_string(self.box.decrypt(row.message_encrypted), policy=email.policy.default)
            await self.mailer.send(message)  # type: ignore[arg-type]
        except (MailRejected, ValueError) as exc:
            self._give_up(row, str(exc))
            return False
        except Exception as exc:  # SMTP down, timeout, 4xx: try again later
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if row.attempts >= self.max_attempts:
                self._give_up(row, row.last_error)
            else:
                row.next_attempt_at = utcnow() + backoff(row.attempts)
                log.warning("mail_retry", mail_id=str(row.id), kind=row.kind, attempts=row.attempts)
            return False
        log.info("mail_sent", mail_id=str(row.id), kind=row.kind, attempts=row.attempts + 1)
        return True

    async def prune(self, older_than: timedelta) -> int:
        """Mail given up on (kept for operators to see why) past `older_than`."""
        cutoff = utcnow() - older_than
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(delete(MailOutbox).where(MailOutbox.failed_at < cutoff))
            return result.rowcount or 0

    def _give_up(self, row: MailOutbox, reason: str) -> None:
        row.failed_at = utcnow()
        row.last_error = reason[:500]
        row.message_encrypted = ""  # the token it carried goes with it
        log.error("mail_failed", mail_id=str(row.id), kind=row.kind, reason=reason[:200])
