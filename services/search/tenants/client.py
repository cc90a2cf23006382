"""Reads a tenant's settings from auth's internal endpoint with a service token (contracts: internal API)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from shared.logging import get_logger

log = get_logger("search.tenants")


class AuthTenantClient:
    """GET /internal/v1/tenants/{id} with a cached service token from POST /internal/v1/service-token."""

    def __init__(self, http: httpx.AsyncClient, auth_url: str, secret: str, service: str = "search") -> None:
        self.http = http
        self.auth_url = auth_url.rstrip("/")
        self.secret = secret
        self.service = service
        self._token: str | None = None
        self._token_until = 0.0

    async def _service_token(self) -> str:
        if self._token and time.monotonic() < self._token_until:
            return self._token
        resp = await self.http.post(
            f"{self.auth_url}/internal/v1/service-token",
            json={"service": self.service, "secret": self.secret},
            timeout=5,
        )
        resp.raise_for_status()
        body = resp.json()
        self._token = body["access_token"]
        self._token_until = time.monotonic() + max(10, int(body.get("expires_in", 900)) - 60)
        return self._token

    async def tenant(self, tenant_id: uuid.UUID) -> dict[str, Any] | None:
        """The tenant's settings and secrets, or None when auth does not know it."""
        token = await self._service_token()
        resp = await self.http.get(
            f"{self.auth_url}/internal/v1/tenants/{tenant_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        if resp.status_code == 401:
            self._token = None
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()
