"""A real SMTP server for tests (aiosmtpd on a free loopback port) that keeps every message it accepts."""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import threading
from collections.abc import Iterator
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from devtools.embedded import free_port
from tests.support.plugin import wait_for

TOKEN = re.compile(r"^\s*(?:token|código|code)[^:\n]*:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


class Inbox:
    """What the SMTP server received, thread-safe (aiosmtpd runs its own event loop in a thread)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.down = False  # answer 451 (try again later) to every message while set
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.down:
            return "451 4.3.0 try again later"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    async def wait(self, address: str, count: int = 1, timeout: float = 15.0) -> list[EmailMessage]:
        """The first `count` messages to `address`, waiting up to `timeout` seconds for them."""
        await wait_for(lambda: len(self.to(address)) >= count, timeout=timeout)
        return self.to(address)[:count]


def body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def token_of(msg: EmailMessage) -> str:
    """The one-time token a verification or invitation mail carries."""
    found = TOKEN.search(body(msg))
    assert found, body(msg)
    return found.group(1)


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, str]]:
    """(inbox, smtp://127.0.0.1:port) while the block runs."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()
