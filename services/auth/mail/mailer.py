"""How a mail leaves: one small interface, SMTP (aiosmtplib) or a directory of .eml files, chosen by settings."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from services.auth.config import AuthSettings

SCHEMES = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}


class MailRejected(Exception):
    """A permanent refusal (5xx): retrying the same message cannot succeed."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """smtp://host:25 (plain), smtps://host:465 (TLS) or smtp+starttls://host:587; credentials in the URL."""

    def __init__(self, url: str, timeout: float = 20.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError("AUTH_SMTP_URL must look like smtp://host:port, smtps://... or smtp+starttls://...")
        self.hostname = parts.hostname
        self.port = parts.port or SCHEMES[parts.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.use_tls = parts.scheme == "smtps"
        self.start_tls = parts.scheme == "smtp+starttls"
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(r.code >= 500 for r in exc.recipients):
                raise MailRejected(f"recipient refused: {exc.recipients[0].code}") from None
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise MailRejected(f"refused: {exc.code} {exc.message[:200]}") from None
            raise


class DirectoryMailer:
    """No SMTP server (`make run`): each mail becomes one .eml file a developer can open."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, bytes(message))

    def _write(self, data: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return tmp.replace(self.directory / name)


def mailer_for(settings: AuthSettings) -> Mailer:
    """SMTP when AUTH_SMTP_URL is set, else the outbox directory."""
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url)
    return DirectoryMailer(settings.mail_outbox_dir)
