"""CORS for the web chat widget (/api/v1/widget/*), whose pages live on every tenant's own sites.

The allowed origins are per channel (channels knows them), and a preflight carries neither the widget's key nor the
visitor token, so the gateway cannot tell which channel it is for: it answers the preflight for any origin, which
grants nothing by itself. The answer that follows carries `Access-Control-Allow-Origin` only if channels set it for
an origin the channel allows (services/channels/web/router.py); the gateway's own CORS list (GATEWAY_CORS_ORIGINS,
the console's) does not apply to these paths.
"""

from __future__ import annotations

from gateway.routes import WIDGET_PREFIX

_ALLOW = [
    (b"access-control-allow-methods", b"GET, POST"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, Last-Event-ID"),
    (b"access-control-max-age", b"600"),
    (b"vary", b"Origin"),
]


class WidgetCors:
    """Plain ASGI in front of the gateway's CORS layer: widget paths skip it (`plain`), everything else goes through
    it (`with_cors`)."""

    def __init__(self, with_cors, plain) -> None:
        self.with_cors = with_cors
        self.plain = plain

    async def __call__(self, scope, receive, send) -> None:
        if not scope["path"].startswith(WIDGET_PREFIX):
            await self.with_cors(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
            headers = [(b"access-control-allow-origin", origin), *_ALLOW] if origin else []
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.plain(scope, receive, send)
