"""Queue a mail in the request's transaction: it is sent by auth's worker after commit, retried while SMTP is down."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.config import AuthSettings
from services.auth.mail.models import MailOutbox
from services.auth.mail.templates import render
from shared.crypto import SecretBox
from shared.logging import get_logger

log = get_logger("mail")


def compose(settings: AuthSettings, to: str, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(text)
    return msg


class MailQueue:
    def __init__(self, session: AsyncSession, settings: AuthSettings, box: SecretBox) -> None:
        self.session = session
        self.settings = settings
        self.box = box

    async def queue(self, kind: str, to: str, locale: str | None = None, *, token: str = "", **values: str) -> None:
        """Render, encrypt (the body may hold a one-time token) and store; never logs the body."""
        rendered = render(
            kind,
            locale,
            token=token,
            link_base=self.settings.public_base_url,
            hours=str(self.settings.email_token_ttl_hours),
            email=to,
            **values,
        )
        message = compose(self.settings, to, rendered.subject, rendered.text)
        self.session.add(MailOutbox(kind=kind, to_address=to, message_encrypted=self.box.encrypt(message.as_string())))
        await self.session.flush()
        log.info("mail_queued", kind=kind)
