"""The routing table: which public path goes to which upstream, who may call it, how big and how slow it may be.

Patterns: `/a/b*` matches any path starting with `/a/b`; `/a/b/*` needs the slash; no star is an exact path.
`/internal/*` is never routed, whatever the table says.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import GatewaySettings

# (pattern, upstream, route group, kind) — kind: "api" | "stream" (long reads: SSE, LLM) | "upload" (big bodies)
TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("/api/v1/auth/*", "auth", "auth", "api"),
    ("/api/v1/tenants*", "auth", "auth", "api"),
    ("/api/v1/users*", "auth", "auth", "api"),
    ("/api/v1/api-keys*", "auth", "auth", "api"),
    ("/api/v1/admin/*", "auth", "auth", "api"),
    ("/.well-known/jwks.json", "auth", "auth_public", "api"),
    ("/api/v1/assistants*", "chat", "chat", "api"),
    ("/api/v1/threads*", "chat", "chat", "stream"),
    ("/api/v1/messages*", "chat", "chat", "api"),
    ("/api/v1/chat", "chat", "chat", "stream"),
    ("/api/v1/contacts*", "chat", "chat", "api"),
    ("/api/v1/buffers*", "chat", "chat", "api"),
    ("/api/v1/metrics", "chat", "chat", "api"),
    ("/api/v1/events", "chat", "chat", "stream"),
    ("/v1/*", "chat", "chat", "stream"),
    ("/api/v1/channels*", "channels", "channels", "api"),
    ("/webhooks/*", "channels", "webhooks", "api"),
    ("/api/v1/widget/sessions", "channels", "widget_sessions", "api"),
    ("/api/v1/widget/*", "channels", "widget", "stream"),
    ("/api/v1/transcriptions*", "transcription", "transcription", "upload"),
    ("/api/v1/search*", "search", "search", "api"),
    ("/api/v1/documents*", "search", "search", "upload"),
)

# Reachable without credentials (the upstream still checks what it needs: passwords, webhook signatures).
PUBLIC: tuple[tuple[str, str], ...] = (
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/verify-email"),
    ("GET", "/.well-known/jwks.json"),
    ("HEAD", "/.well-known/jwks.json"),
    ("*", "/webhooks/*"),
    ("*", "/api/v1/widget/*"),  # the visitor token, checked by channels, is no API credential (docs/web-chat.md)
)
WIDGET_PREFIX = "/api/v1/widget/"


@dataclass(frozen=True, slots=True)
class Route:
    pattern: str
    upstream: str  # name, a key of settings.upstreams()
    base_url: str
    group: str
    kind: str
    max_body: int
    read_timeout: float


def _matcher(pattern: str):
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return lambda path: path.startswith(prefix)
    return lambda path: path == pattern


class RoutingTable:
    """First match wins; a dozen `startswith` calls cost less than a microsecond."""

    def __init__(self, settings: GatewaySettings) -> None:
        upstreams = settings.upstreams()
        self.routes: list[tuple[object, Route]] = []
        for pattern, upstream, group, kind in TABLE:
            route = Route(
                pattern=pattern,
                upstream=upstream,
                base_url=upstreams[upstream],
                group=group,
                kind=kind,
                max_body=settings.max_upload_bytes if kind == "upload" else settings.max_body_bytes,
                read_timeout=settings.stream_read_timeout if kind == "stream" else settings.read_timeout,
            )
            self.routes.append((_matcher(pattern), route))
        # what match() walks: (prefix, exact?, route), no function call per entry
        self._walk = [(r.pattern.rstrip("*"), not r.pattern.endswith("*"), r) for _, r in self.routes]
        self._public_exact = {(m, p) for m, p in PUBLIC if not p.endswith("*")}
        self._public_prefixes = [(m, p[:-1]) for m, p in PUBLIC if p.endswith("*")]

    def match(self, path: str) -> Route | None:
        if path.startswith("/internal"):
            return None
        for prefix, exact, route in self._walk:
            if path == prefix if exact else path.startswith(prefix):
                return route
        return None

    def is_public(self, method: str, path: str) -> bool:
        if (method, path) in self._public_exact:
            return True
        return any((m == "*" or m == method) and path.startswith(prefix) for m, prefix in self._public_prefixes)

    def paths_of(self, upstream: str, path: str) -> bool:
        """Does `path` (an OpenAPI path template of `upstream`) belong to the public surface we route there?"""
        route = self.match(path)
        return route is not None and route.upstream == upstream


def has_dot_segments(path: str) -> bool:
    """`/api/v1/auth/../../internal` must never be normalised into a route we did not check."""
    return "/." in path and any(seg in (".", "..") for seg in path.split("/"))


def webhook_channel(path: str) -> str:
    """`provider/channel id` of `/webhooks/<provider>/<channel id>[/...]` (what webhook limits count per), or ""."""
    parts = path.split("/", 5)
    if len(parts) < 4 or not parts[3]:
        return ""
    return f"{parts[2][:32]}/{parts[3][:64]}"
