"""Who is calling, decided at the edge: a JWT verified locally, or an API key exchanged at auth for a JWT.

Services only ever see `Authorization: Bearer <jwt>`. An exchanged key is cached under its SHA-256 (never the
key itself) until shortly before the JWT expires and at most `api_key_cache_seconds`, so a revoked key stops
within that window. Disabled users/tenants are enforced by every service on every request (shared/auth.py),
so the gateway spends no Redis round trip on them.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx
import structlog

from gateway.config import GatewaySettings
from shared.auth import Principal, TenantInactive, TokenVerifier
from shared.errors import RateLimited, ServiceUnavailable, Unauthorized
from shared.service_auth import ServiceTokenProvider

log = structlog.get_logger("gateway.auth")
EXCHANGE_PATH = "/internal/v1/token-exchange"
_EXPIRY_MARGIN = 15.0  # never hand a service a token this close to its expiry


@dataclass(frozen=True, slots=True)
class Identity:
    principal: Principal
    authorization: bytes | None  # replacement Authorization header value (API keys); None: keep the client's
    kind: str  # "user" | "api_key" | "service"
    rate_key: str  # user id, key id, ...
    tenant: str | None = None  # str(principal.tenant_id), computed once per cached token, not per request

    @classmethod
    def of(cls, principal: Principal, authorization: bytes | None = None) -> Identity:
        tenant = str(principal.tenant_id) if principal.tenant_id is not None else None
        return cls(principal, authorization, principal.kind, principal.sub, tenant)


@dataclass(slots=True)
class _Entry:
    expires_at: float  # monotonic
    identity: Identity | None
    error: str = ""
    inactive: bool = False  # the key is good but its tenant is inactive: 403, not 401 (API.md)


class EdgeAuthenticator:
    def __init__(
        self,
        settings: GatewaySettings,
        verifier: TokenVerifier,
        http: httpx.AsyncClient,
        service_tokens: ServiceTokenProvider,
    ) -> None:
        self.verifier = verifier
        self.http = http
        self.service_tokens = service_tokens
        self.exchange_url = settings.auth_upstream.rstrip("/") + EXCHANGE_PATH
        self.key_prefix = settings.api_key_prefix
        self.cache_seconds = settings.api_key_cache_seconds
        self.negative_seconds = settings.api_key_negative_cache_seconds
        self.cache_size = settings.api_key_cache_size
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()
        # unknown keys apart, so a flood of random keys cannot push the good ones out of `_cache`
        self._unknown: OrderedDict[bytes, _Entry] = OrderedDict()
        self._inflight: dict[bytes, asyncio.Future[_Entry]] = {}
        self._jwt: dict[str, Identity] = {}  # token -> its Identity; valid while the verifier returns its principal
        verifier.on_keys_gone.append(self._keys_gone)

    def _keys_gone(self, kids: set[str]) -> None:
        """A signing key was retired: exchanged tokens it may have signed are dropped, keys get exchanged anew."""
        self._cache.clear()
        self._jwt.clear()

    async def authenticate(self, authorization: bytes | None, api_key: bytes | None, blocked: int = 0) -> Identity:
        """401 (Unauthorized) unless the request carries a valid JWT or API key. `blocked` > 0: the client is over
        its failed-authentication limit for that many seconds, so an API key not already known is refused (429)
        without asking auth."""
        if api_key:
            return await self._api_key(api_key.decode("latin-1").strip(), blocked)
        if not authorization:
            raise Unauthorized("missing credentials: send Authorization: Bearer <token or API key> or X-API-Key")
        scheme, _, value = authorization.decode("latin-1").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise Unauthorized("Authorization must be 'Bearer <token or API key>'")
        if value.startswith(self.key_prefix):
            return await self._api_key(value, blocked)
        principal = await self.verifier.verify(value)  # a cache hit until exp, else a full check
        identity = self._jwt.get(value)
        if identity is None or identity.principal is not principal:
            if len(self._jwt) >= self.cache_size:
                self._jwt.clear()
            identity = self._jwt[value] = Identity.of(principal)
        return identity

    async def _api_key(self, key: str, blocked: int = 0) -> Identity:
        if not key or len(key) > 512:
            raise Unauthorized("API key is not valid")
        digest = hashlib.sha256(key.encode()).digest()
        entry = self._cache.get(digest) or self._unknown.get(digest)
        if entry is None or entry.expires_at <= time.monotonic():
            if blocked:
                raise RateLimited(blocked, f"too many failed authentications from this client; retry in {blocked} s")
            entry = await self._exchange_once(digest, key)
        if entry.identity is None:
            if entry.inactive:
                raise TenantInactive(entry.error)
            raise Unauthorized(entry.error or "API key is not valid")
        return entry.identity

    async def _exchange_once(self, digest: bytes, key: str) -> _Entry:
        """Concurrent requests with the same new key share one exchange."""
        future = self._inflight.get(digest)
        if future is not None:
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            entry = await self._exchange(key)
            future.set_result(entry)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            self._inflight.pop(digest, None)
        if entry.expires_at > time.monotonic():
            cache, other = (self._cache, self._unknown) if entry.identity is not None else (self._unknown, self._cache)
            other.pop(digest, None)
            cache[digest] = entry
            cache.move_to_end(digest)
            while len(cache) > self.cache_size:
                cache.popitem(last=False)
        return entry

    async def _exchange(self, key: str, retried: bool = False) -> _Entry:
        headers = {"Authorization": f"Bearer {await self.service_tokens.token()}"}
        try:
            resp = await self.http.post(self.exchange_url, json={"api_key": key}, headers=headers, timeout=5)
        except httpx.HTTPError as exc:
            log.warning("api_key_exchange_unreachable", error=type(exc).__name__)
            raise ServiceUnavailable("the authentication service is unreachable; try again") from None
        now = time.monotonic()
        code, detail = _problem(resp)
        if resp.status_code == 401 and code == "invalid_api_key":
            return _Entry(now + self.negative_seconds, None, detail or "API key is not valid")
        if resp.status_code == 403 and code == TenantInactive.code:
            return _Entry(now + self.negative_seconds, None, detail or "this tenant is inactive", inactive=True)
        if resp.status_code == 401 and not retried:  # our own service token was refused (expired, key rotated)
            self.service_tokens.invalidate()
            return await self._exchange(key, retried=True)
        if resp.status_code != 200:
            log.error("api_key_exchange_failed", status=resp.status_code)
            raise ServiceUnavailable(f"the authentication service answered {resp.status_code}; try again")
        body = resp.json()
        token = str(body["access_token"])
        principal = await self.verifier.verify(token)
        expires_in = float(body.get("expires_in") or 0)
        ttl = min(self.cache_seconds, expires_in - _EXPIRY_MARGIN)
        identity = Identity(
            principal=principal,
            authorization=f"Bearer {token}".encode(),
            kind="api_key",
            rate_key=str(body.get("key_id") or principal.sub),
            tenant=str(principal.tenant_id) if principal.tenant_id is not None else None,
        )
        return _Entry(now + max(ttl, 0.0), identity)

    def forget(self, key: str) -> None:
        digest = hashlib.sha256(key.encode()).digest()
        self._cache.pop(digest, None)
        self._unknown.pop(digest, None)


def _problem(resp: httpx.Response) -> tuple[str, str]:
    if resp.status_code == 200:
        return "", ""
    try:
        body = resp.json()
        return str(body.get("code", "")), str(body.get("detail", ""))[:200]
    except (ValueError, AttributeError):
        return "", ""
