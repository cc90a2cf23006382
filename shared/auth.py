"""Who is calling: JWT verification against auth's JWKS (cached), Principal, and FastAPI guards.

Every service and the gateway verify tokens locally; nothing calls auth per request. Tokens of a
deactivated user or inactive tenant stop at once: auth sets `auth:disabled:*` keys in Redis, read
here with one MGET per request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
import structlog
from fastapi import Depends, Request
from jose import jwt
from jose.exceptions import JOSEError

from shared.errors import Forbidden, Unauthorized
from shared.openapi import raises

log = structlog.get_logger("auth")
ALGORITHMS = ["ES256", "RS256"]  # asymmetric only; `none` and HS* are never accepted
ROLE_SCOPES = {"admin": ["read", "write", "admin"], "agent": ["read", "write"], "viewer": ["read"]}
ROLES = tuple(ROLE_SCOPES)
SCOPES = ("read", "write", "admin")
DISABLED_TENANT_KEY = "auth:disabled:tenant:{}"
DISABLED_USER_KEY = "auth:disabled:user:{}"


@dataclass(frozen=True)
class Principal:
    """The verified caller: a user, an API key or a service."""

    sub: str
    kind: str  # "user" | "api_key" | "service"
    tenant_id: uuid.UUID | None
    role: str | None
    scopes: frozenset[str]
    is_superuser: bool = False
    jti: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def user_id(self) -> uuid.UUID | None:
        if self.kind != "user":
            return None
        try:
            return uuid.UUID(self.sub)
        except ValueError:
            return None

    @property
    def service(self) -> str | None:
        return self.sub.removeprefix("svc:") if self.kind == "service" else None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or (self.is_superuser and self.kind == "user")


class JWKSCache:
    """Public keys by kid, from a static JWKS (JWKS_JSON) and/or fetched from JWKS_URL; refetched
    when an unknown kid shows up (at most every `min_refresh` seconds)."""

    def __init__(self, url: str = "", static_json: str = "", http=None, min_refresh: float = 10.0) -> None:
        self.url = url
        self.http = http
        self.min_refresh = min_refresh
        self.keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        if static_json:
            self.load(orjson.loads(static_json))

    def load(self, jwks: dict[str, Any]) -> None:
        for key in jwks.get("keys", [])[:50]:
            if key.get("kid") and key.get("kty") in ("EC", "RSA"):
                self.keys[key["kid"]] = key

    async def get(self, kid: str) -> dict[str, Any] | None:
        key = self.keys.get(kid)
        if key is not None or not self.url or self.http is None:
            return key
        async with self._lock:
            if kid in self.keys:
                return self.keys[kid]
            if time.monotonic() - self._fetched_at < self.min_refresh and self._fetched_at:
                return None
            self._fetched_at = time.monotonic()
            try:
                resp = await self.http.get(self.url, timeout=5)
                resp.raise_for_status()
                self.load(resp.json())
            except Exception as exc:  # noqa: BLE001 - an unreachable JWKS means "unknown key"
                log.warning("jwks_fetch_failed", url=self.url, error=str(exc)[:200])
            return self.keys.get(kid)


class TokenVerifier:
    """Verifies a JWT's signature (pinned algorithms), aud, iss and exp; caches good tokens until exp."""

    def __init__(self, jwks: JWKSCache, audience: str, issuer: str, cache_size: int = 10_000) -> None:
        self.jwks = jwks
        self.audience = audience
        self.issuer = issuer
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        hit = self._cache.get(token)
        now = time.time()
        if hit is not None:
            if hit[0] > now:
                return hit[1]
            self._cache.pop(token, None)
        if len(token) > 8192:
            raise Unauthorized("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError:
            raise Unauthorized("malformed token") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthorized("token algorithm not allowed")
        key = await self.jwks.get(str(header.get("kid", "")))
        if key is None:
            raise Unauthorized("token signed with an unknown key")
        if key.get("alg") and key["alg"] != alg:
            raise Unauthorized("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                options={"require_exp": True, "require_iat": True, "require_sub": True},
            )
        except JOSEError as exc:
            raise Unauthorized(f"invalid token: {_reason(exc)}") from None
        principal = principal_from_claims(claims)
        self._cache[token] = (float(claims["exp"]), principal)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return principal


def _reason(exc: Exception) -> str:
    text = str(exc).lower()
    for word in ("expired", "audience", "issuer", "signature"):
        if word in text:
            return {
                "expired": "expired",
                "audience": "wrong audience",
                "issuer": "wrong issuer",
                "signature": "bad signature",
            }[word]
    return "verification failed"


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub = str(claims.get("sub", ""))
    kind = "service" if sub.startswith("svc:") else "api_key" if sub.startswith("key:") else "user"
    tid = claims.get("tid")
    try:
        tenant_id = uuid.UUID(str(tid)) if tid else None
    except ValueError:
        raise Unauthorized("invalid token: bad tenant claim") from None
    scopes = claims.get("scopes") or []
    if not isinstance(scopes, list):
        raise Unauthorized("invalid token: bad scopes claim")
    return Principal(
        sub=sub,
        kind=kind,
        tenant_id=tenant_id,
        role=claims.get("role"),
        scopes=frozenset(str(s) for s in scopes),
        is_superuser=bool(claims.get("su")),
        jti=claims.get("jti"),
        claims=claims,
    )


def build_verifier(settings, http) -> TokenVerifier:
    jwks = JWKSCache(url=settings.resolved_jwks_url, static_json=settings.jwks_json, http=http)
    return TokenVerifier(jwks, settings.jwt_audience, settings.jwt_issuer)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def ensure_active(redis, principal: Principal) -> None:
    """One MGET: is the caller's tenant inactive or user deactivated right now?"""
    keys = []
    if principal.tenant_id:
        keys.append(DISABLED_TENANT_KEY.format(principal.tenant_id))
    if principal.kind == "user" and principal.user_id:
        keys.append(DISABLED_USER_KEY.format(principal.user_id))
    if principal.kind == "api_key" and principal.claims.get("uid"):
        keys.append(DISABLED_USER_KEY.format(principal.claims["uid"]))
    if not keys or redis is None:
        return
    if any(v is not None for v in await redis.mget(keys)):
        raise Unauthorized("user deactivated or tenant inactive")


@raises(401)
async def get_principal(request: Request) -> Principal:
    """The verified caller of this request (401 otherwise); FastAPI caches it per request."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer token")
    state = request.app.state
    verifier: TokenVerifier | None = getattr(state, "verifier", None)
    if verifier is None:
        verifier = state.verifier = build_verifier(state.settings, state.http)
    principal = await verifier.verify(token)
    await ensure_active(getattr(state, "redis", None), principal)
    structlog.contextvars.bind_contextvars(tenant_id=str(principal.tenant_id) if principal.tenant_id else None)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_scope(scope: str):
    """Guard: the caller holds `scope` (read/write/admin)."""

    @raises(403)
    async def guard(principal: CurrentPrincipal) -> Principal:
        if not principal.has_scope(scope):
            raise Forbidden(f"this needs the '{scope}' scope")
        return principal

    return Depends(guard)


def require_role(*roles: str):
    """Guard: a user with one of `roles` in the active tenant (superusers pass)."""

    @raises(403)
    async def guard(principal: CurrentPrincipal) -> Principal:
        if principal.is_superuser and principal.kind == "user":
            return principal
        if principal.kind != "user" or principal.role not in roles:
            raise Forbidden(f"this needs role {' or '.join(roles)}")
        return principal

    return Depends(guard)


@raises(403)
async def _superuser(principal: CurrentPrincipal) -> Principal:
    if not (principal.is_superuser and principal.kind == "user"):
        raise Forbidden("this needs a platform superuser")
    return principal


@raises(403)
async def _service(principal: CurrentPrincipal) -> Principal:
    if principal.kind != "service":
        raise Forbidden("internal endpoint: service token required")
    return principal


@raises(403)
async def _tenant(principal: CurrentPrincipal) -> uuid.UUID:
    if principal.tenant_id is None:
        raise Forbidden("no active tenant in this token; switch to a tenant first")
    return principal.tenant_id


SuperuserDep = Annotated[Principal, Depends(_superuser)]
ServiceDep = Annotated[Principal, Depends(_service)]
TenantIdDep = Annotated[uuid.UUID, Depends(_tenant)]
ReadScope = require_scope("read")
WriteScope = require_scope("write")
AdminScope = require_scope("admin")
