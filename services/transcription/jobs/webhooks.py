"""Signed webhook calls: each tenant's callbacks carry an HMAC with that tenant's own `webhook_secret`.

`X-Atende-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`; the tenant sets (and rotates) the
secret through `PUT /api/v1/tenants/{id}/secrets/webhook_secret`, so no tenant can forge another's callbacks.
Calls go through shared/egress.py (checked address, no redirects, answer read up to a cap).
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import orjson

from services.transcription.jobs.models import Job
from shared.egress import EgressRefused, read_capped

SIGNATURE_HEADER = "X-Atende-Signature"
WEBHOOK_SECRET_NAME = "webhook_secret"  # the tenant secret (auth's tenant secrets API) that signs callbacks


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


async def deliver(
    client: httpx.AsyncClient, job: Job, secret: str | None, timeout: float, max_response_bytes: int
) -> str | None:
    """POST the job's outcome; None when the receiver answered 2xx, else the reason (kept on the job)."""
    if not secret:
        return (
            f"the tenant has no {WEBHOOK_SECRET_NAME} to sign with (PUT /api/v1/tenants/{{id}}/secrets/webhook_secret)"
        )
    body = webhook_body(job)
    try:
        async with client.stream(
            "POST",
            job.webhook_url or "",
            content=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(secret, body),
                "X-Atende-Event": "transcription.finished",
                "X-Atende-Delivery": str(job.id),
            },
            timeout=timeout,
        ) as r:
            if 200 <= r.status_code < 300:
                return None  # its answer is never read
            answer, cut = await read_capped(r, max_response_bytes)
    except EgressRefused as exc:
        return f"refused: {exc}"
    except Exception as exc:  # noqa: BLE001 - the receiver's failure is recorded, never ours to crash on
        return f"{type(exc).__name__}: {exc}"[:300]
    snippet = answer[:200].decode("utf-8", "replace")
    cut_note = f" (answer cut at {max_response_bytes} bytes)" if cut else ""
    return f"receiver answered {r.status_code}{cut_note}" + (f": {snippet}" if snippet else "")
