"""Signed webhook calls and the SSRF guard shared with audio_url downloads."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import orjson

from services.transcription.jobs.models import Job

SIGNATURE_HEADER = "X-Atende-Signature"


class UnsafeURL(ValueError):
    """The URL points somewhere we must not call (private network, loopback, bad scheme)."""


async def check_public_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("only http(s) URLs with a host are allowed")
    if allow_private:
        return
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeURL(f"cannot resolve {parts.hostname}") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not ip.is_global:
            raise UnsafeURL(f"{parts.hostname} resolves to a non-public address")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (verify with the same secret, reject old t)."""
    t = int(timestamp if timestamp is not None else time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, t), header)


def webhook_body(job: Job) -> bytes:
    return orjson.dumps(
        {
            "event": "transcription.finished",
            "id": str(job.id),
            "status": job.status,
            "language": job.language,
            "duration_seconds": job.duration_seconds,
            "text": job.text,
            "error": job.error,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        }
    )


async def deliver(http, job: Job, secret: str, timeout: float, allow_private: bool) -> str | None:
    """POST the job's outcome; None when the receiver answered 2xx, else the reason."""
    try:
        await check_public_url(job.webhook_url or "", allow_private)
        body = webhook_body(job)
        r = await http.post(
            job.webhook_url,
            content=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(secret, body),
                "X-Atende-Event": "transcription.finished",
                "X-Atende-Delivery": str(job.id),
            },
            timeout=timeout,
            follow_redirects=False,
        )
    except UnsafeURL as exc:
        return f"refused: {exc}"
    except Exception as exc:  # noqa: BLE001 - the receiver's failure is recorded, never ours to crash on
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if 200 <= r.status_code < 300 else f"receiver answered {r.status_code}"
