"""Service-to-service identity: a service token from auth, cached until shortly before it expires."""

from __future__ import annotations

import asyncio
import time

import httpx

from shared.errors import ServiceUnavailable
from shared.logging import get_logger

log = get_logger("service_auth")


class ServiceTokenProvider:
    """`await provider.token()` -> a bearer JWT (`sub=svc:<service>`) for calls to other services.

    One request to auth per token lifetime; concurrent callers share it. Call `invalidate()` when a
    callee answers 401 (e.g. after a key rotation) to fetch a fresh one.
    """

    def __init__(
        self, http: httpx.AsyncClient, auth_url: str, service: str, secret: str, *, refresh_margin: float = 60.0
    ) -> None:
        self.http = http
        self.url = f"{auth_url.rstrip('/')}/internal/v1/service-token"
        self.service = service
        self.secret = secret
        self.refresh_margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0

    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            try:
                resp = await self.http.post(self.url, json={"service": self.service, "secret": self.secret}, timeout=5)
            except httpx.HTTPError as exc:
                raise ServiceUnavailable(f"auth is unreachable for a service token: {type(exc).__name__}") from None
            if resp.status_code != 200:
                log.error("service_token_refused", status=resp.status_code, service=self.service)
                raise ServiceUnavailable(
                    f"auth refused a service token for {self.service!r} ({resp.status_code}); check SERVICE_SECRET"
                )
            body = resp.json()
            expires_in = float(body.get("expires_in", 300))
            self._token = body["access_token"]
            self._expires_at = time.monotonic() + max(1.0, expires_in - min(self.refresh_margin, expires_in / 2))
            return self._token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}
