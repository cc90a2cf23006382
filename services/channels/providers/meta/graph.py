"""Meta's Graph API: sends (text, WhatsApp templates, typing), Meta's errors mapped to `SendError`, and media
downloads only from the Graph host or Meta's media CDN hosts (CHANNELS_META_MEDIA_HOSTS), size-capped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from services.channels.providers.base import Media, MediaError, SendError, SendResult, read_capped
from services.channels.providers.meta.payload import OUTSIDE_WINDOW

GRAPH_URL = "https://graph.facebook.com"
# Meta's throttling: app / account / page limits, WhatsApp's business-account and pair rate limits, spam rate limit.
RATE_LIMITED = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
TRANSIENT = frozenset({1, 2, 131000, 131016})  # "unknown" / "service temporarily unavailable"
INVALID_TOKEN = 190


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """`lookaside.fbsbx.com` matches itself; `*.fbcdn.net` matches any name under fbcdn.net (never fbcdn.net.evil)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def graph_error(resp: httpx.Response) -> SendError:
    """A refused Graph call as a `SendError`: throttling and Meta's own trouble are retried, the rest is final."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = str(error.get("message") or "")[:300]
    reason = f"meta: HTTP {resp.status_code} code {code}: {message}"
    retry_after = resp.headers.get("retry-after")
    wait = float(retry_after) if retry_after and retry_after.isdigit() else None
    if resp.status_code == 429 or code in RATE_LIMITED:
        return SendError(reason, permanent=False, retry_after=wait)
    if code in OUTSIDE_WINDOW:
        return SendError(
            f"outside WhatsApp's 24-hour customer service window ({reason})", permanent=True, outside_window=True
        )
    if code == INVALID_TOKEN:
        return SendError(f"invalid or expired access token ({reason})", permanent=True)
    if resp.status_code >= 500 or code in TRANSIENT or error.get("is_transient"):
        return SendError(reason, permanent=False, retry_after=wait)
    return SendError(reason, permanent=True)


class GraphClient:
    """One pooled HTTP client for every channel of a type; the channel's token goes in each request."""

    def __init__(self, base_url: str, version: str, media_hosts: tuple[str, ...], timeout: float) -> None:
        self.base_url = (base_url or GRAPH_URL).rstrip("/")
        self.version = version
        self.media_hosts = media_hosts
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, trust_env=False, limits=httpx.Limits(max_connections=100)
            )
        return self._http

    def url(self, *path: str) -> str:
        return "/".join((self.base_url, self.version, *path))

    async def post(self, token: str, node: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /{version}/{node}/messages; the answer's JSON, or SendError."""
        try:
            resp = await self.http.post(
                self.url(node, "messages"), json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise SendError(f"meta: {type(exc).__name__}", permanent=False) from None
        if resp.status_code != 200:
            raise graph_error(resp)
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise SendError("meta: the answer is not a JSON object", permanent=False)
        return answer

    async def send(self, token: str, node: str, body: Mapping[str, Any]) -> SendResult:
        answer = await self.post(token, node, body)
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
        message_id = answer.get("message_id") or first.get("id")
        if not message_id:
            raise SendError("meta: the answer names no message id", permanent=True)
        return SendResult(str(message_id)[:200])

    def allowed_media_url(self, url: str) -> bool:
        """The Graph host itself (exact scheme and host), or https on one of Meta's media CDN hosts."""
        parts, graph = urlsplit(url), urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) == (graph.scheme, graph.netloc):
            return True
        return parts.scheme == "https" and host_allowed(parts.hostname or "", self.media_hosts)

    async def media(self, token: str, item: Mapping[str, Any], max_bytes: int) -> Media:
        """WhatsApp's media id: `GET /{version}/{media_id}` names the URL, fetched with the token. Instagram and
        Messenger attachments carry their CDN URL (signed: no token sent)."""
        auth = {"Authorization": f"Bearer {token}"}
        url = item.get("url")
        if item.get("media_id"):
            try:
                resp = await self.http.get(self.url(str(item["media_id"])), headers=auth)
            except httpx.HTTPError as exc:
                raise MediaError(f"Graph media lookup failed: {type(exc).__name__}") from None
            if resp.status_code != 200:
                raise MediaError(f"Graph answered {resp.status_code} for the media id")
            try:
                info = resp.json()
            except ValueError:
                info = None
            if not isinstance(info, dict):
                raise MediaError("Graph's media answer is not a JSON object")
            url = info.get("url")
            size = info.get("file_size")
            if isinstance(size, int) and size > max_bytes:
                raise MediaError(f"media is larger than {max_bytes} bytes")
        else:
            auth = {}
        if not isinstance(url, str) or not self.allowed_media_url(url):
            raise MediaError("media URL is not on the Graph host or Meta's media hosts; refusing to fetch it")
        try:
            async with self.http.stream("GET", url, headers=auth) as resp:
                if resp.status_code != 200:
                    raise MediaError(f"media download answered {resp.status_code}")
                return Media(await read_capped(resp, max_bytes), resp.headers.get("content-type", ""))
        except httpx.HTTPError as exc:
            raise MediaError(f"media download failed: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
