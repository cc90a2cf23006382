"""Who is calling: JWT verification against auth's JWKS (cached), Principal, and FastAPI guards.

Every service and the gateway verify tokens locally; nothing calls auth per request. Tokens of a
deactivated user or inactive tenant, of an ended session (logout, password change, role change) and of an
API key that stopped stop at once: auth sets `auth:disabled:*` / `auth:ended:*` keys in Redis, read here with
one MGET per request. Signing keys follow auth.keys.v1 (shared/auth_watch.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
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
# Its value: an inactive tenant stays open to a platform superuser (to read and answer as a human); "deleted" to nobody.
TENANT_INACTIVE = "inactive"
DISABLED_USER_KEY = "auth:disabled:user:{}"
# Set by auth for the access-token lifetime (then they expire, so Redis stays bounded):
ENDED_SESSION_KEY = "auth:ended:session:{}"  # an access token's `sid` (its refresh family): logout, password change...
ENDED_API_KEY_KEY = "auth:ended:apikey:{}"  # an API key's exchanged tokens: revoked, or its creator lost the right


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

    @property
    def is_platform_superuser(self) -> bool:
        return self.is_superuser and self.kind == "user"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or self.is_platform_superuser


class JWKSCache:
    """Public keys by kid: a static JWKS (JWKS_JSON) plus the set last fetched from JWKS_URL.

    A fetch REPLACES the fetched set (a key auth no longer serves is gone), a failed fetch keeps the last good set,
    and a kid named retired (auth.keys.v1) never comes back, even from a replica that has not reloaded yet.
    An unknown kid triggers a fetch at most every `min_refresh` seconds."""

    def __init__(self, url: str = "", static_json: str = "", http=None, min_refresh: float = 10.0) -> None:
        self.url = url
        self.http = http
        self.min_refresh = min_refresh
        self.static: dict[str, dict[str, Any]] = {}
        self.fetched: dict[str, dict[str, Any]] = {}
        self.retired: OrderedDict[str, None] = OrderedDict()
        self.keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = 0.0
        self._ever_fetched = False
        self._failing = False
        self._lock = asyncio.Lock()
        self.on_removed: Callable[[set[str]], None] | None = None  # the verifier drops tokens these kids signed
        if static_json:
            self.static = _usable(orjson.loads(static_json))
            self._merge()

    def _merge(self) -> None:
        before = self.keys
        self.keys = {k: v for k, v in (self.static | self.fetched).items() if k not in self.retired}
        gone = set(before) - set(self.keys)
        if gone and self.on_removed is not None:
            self.on_removed(gone)

    def load(self, jwks: dict[str, Any]) -> None:
        """Replace the fetched set with `jwks` (a JWKS without one usable key is refused, never loaded)."""
        fetched = _usable(jwks)
        if not fetched:
            raise ValueError("JWKS without a usable key")
        self.fetched = fetched
        self._ever_fetched = True
        self._merge()

    def retire(self, kid: str) -> None:
        """Never trust `kid` again (bounded memory: kids are unique, the oldest retired fall off first)."""
        self.retired[kid] = None
        while len(self.retired) > 1000:
            self.retired.popitem(last=False)
        self.keys.pop(kid, None)
        self._merge()
        if self.on_removed is not None:
            self.on_removed({kid})

    async def refresh(self, *, force: bool = False) -> None:
        """Re-read the JWKS (the periodic safety net: only once something was fetched, unless forced)."""
        if not self.url or self.http is None or not (force or self._ever_fetched):
            return
        async with self._lock:
            await self._fetch()

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            resp = await self.http.get(self.url, timeout=5)
            resp.raise_for_status()
            self.load(resp.json())
            self._failing = False
        except Exception as exc:  # noqa: BLE001 - auth unreachable: keep the last good set, never go empty
            if not self._failing:  # once per outage, not once per periodic refresh
                log.warning("jwks_fetch_failed", url=self.url, error=str(exc)[:200])
            self._failing = True

    async def get(self, kid: str) -> dict[str, Any] | None:
        key = self.keys.get(kid)
        if key is not None or not self.url or self.http is None or kid in self.retired:
            return key
        async with self._lock:
            if kid in self.keys:
                return self.keys[kid]
            if time.monotonic() - self._fetched_at < self.min_refresh and self._fetched_at:
                return None
            await self._fetch()
            return self.keys.get(kid)


def _usable(jwks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys = jwks.get("keys", []) if isinstance(jwks, dict) else []
    return {k["kid"]: k for k in keys[:50] if isinstance(k, dict) and k.get("kid") and k.get("kty") in ("EC", "RSA")}


class TokenVerifier:
    """Verifies a JWT's signature (pinned algorithms), aud, iss and exp; caches good tokens until exp, or until
    their signing key leaves the key set (`refresh`, `retire`)."""

    def __init__(self, jwks: JWKSCache, audience: str, issuer: str, cache_size: int = 10_000) -> None:
        self.jwks = jwks
        self.audience = audience
        self.issuer = issuer
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[float, Principal, str]] = OrderedDict()
        self.on_keys_gone: list[Callable[[set[str]], None]] = []  # e.g. the gateway's API-key cache
        jwks.on_removed = self._forget

    def _forget(self, kids: set[str]) -> None:
        for token in [t for t, (_, _, kid) in self._cache.items() if kid in kids]:
            self._cache.pop(token, None)
        for listener in self.on_keys_gone:
            listener(kids)
        log.info("signing_keys_dropped", kids=sorted(kids)[:10])

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
        kid = str(header.get("kid", ""))
        key = await self.jwks.get(kid)
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
        self._cache[token] = (float(claims["exp"]), principal, kid)
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
    """One MGET: is the caller's tenant inactive, user deactivated, session ended or API key stopped right now?"""
    keys = []
    if principal.tenant_id:
        keys.append(DISABLED_TENANT_KEY.format(principal.tenant_id))
    if principal.kind == "user" and principal.user_id:
        keys.append(DISABLED_USER_KEY.format(principal.user_id))
        if principal.claims.get("sid"):
            keys.append(ENDED_SESSION_KEY.format(principal.claims["sid"]))
    if principal.kind == "api_key":
        keys.append(ENDED_API_KEY_KEY.format(principal.sub.removeprefix("key:")))
        if principal.claims.get("uid"):
            keys.append(DISABLED_USER_KEY.format(principal.claims["uid"]))
    if not keys or redis is None:
        return
    values = await redis.mget(keys)
    tenant_flag = _text(values[0]) if principal.tenant_id else None
    if any(v is not None for v in values[1 if principal.tenant_id else 0 :]):
        raise Unauthorized("access ended: signed out, deactivated, role changed or key revoked")
    if tenant_flag == TENANT_INACTIVE:
        if not principal.is_platform_superuser:  # the platform owner still sees an inactive tenant
            raise TenantInactive("this tenant is inactive: its API is closed until it is active again")
    elif tenant_flag is not None:
        raise Unauthorized("access ended: the tenant is gone")


class TenantInactive(Forbidden):
    """API.md: a tenant with `status: inactive` loses API access (403); its credentials stay valid for later."""

    code = "tenant_inactive"


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@raises(401, 403)
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
        if principal.is_platform_superuser:
            return principal
        if principal.kind != "user" or principal.role not in roles:
            raise Forbidden(f"this needs role {' or '.join(roles)}")
        return principal

    return Depends(guard)


@raises(403)
async def _superuser(principal: CurrentPrincipal) -> Principal:
    if not principal.is_platform_superuser:
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
