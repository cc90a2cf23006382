"""The two message webhooks as plain ASGI, ahead of FastAPI's routing, dependency and response machinery.

`POST /webhooks/twilio/{channel_id}` and `POST /webhooks/telegram/{channel_id}` are the only requests whose
rate is set by the customers of every tenant at once; everything they do is in `WebhookIntake`. The FastAPI
routes in router.py declare the same endpoints (OpenAPI) and call the same intake, so behaviour cannot drift;
this layer only skips FastAPI on the way there. It sits inside `RequestContextMiddleware` (request id, metrics,
the one access line, which carries the channel, the kind and whether it was a provider retry).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import structlog

from services.channels.webhooks.intake import EMPTY_TWIML, WebhookIntake
from shared.asgi import ClientGone
from shared.asgi import read_body as read_asgi_body
from shared.errors import AppError, PayloadTooLarge, app_error_response

_TWIML = EMPTY_TWIML.encode()
_XML_HEADERS = [(b"content-type", b"text/xml; charset=utf-8"), (b"content-length", str(len(_TWIML)).encode())]


@dataclass(frozen=True)
class _Route:
    path: str  # the template RequestContextMiddleware labels metrics and the access line with


_ROUTES = {
    "twilio": _Route("/webhooks/twilio/{channel_id}"),
    "telegram": _Route("/webhooks/telegram/{channel_id}"),
}


async def read_body(scope, receive, limit: int) -> bytes:
    """The body, refused past the size limit without reading it all (a declared length over it: not at all)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
            break
    return await read_asgi_body(receive, limit)


class WebhookFastPath:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        parts = scope["path"].split("/")  # "", "webhooks", provider, channel id
        if len(parts) != 4 or parts[2] not in _ROUTES or not parts[3]:
            await self.app(scope, receive, send)
            return
        provider, channel_id = parts[2], parts[3]
        scope["route"] = _ROUTES[provider]
        state = scope["app"].state
        intake: WebhookIntake = state.webhook_intake
        try:
            body = await read_body(scope, receive, state.settings.webhook_max_body_bytes)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            if provider == "twilio":
                query = scope.get("query_string", b"").decode("latin-1")
                inbound_id = await intake.twilio_message(
                    channel_id, headers, scope.get("scheme", "http"), scope["path"], query, body
                )
                structlog.contextvars.bind_contextvars(channel_id=channel_id, duplicate=inbound_id is None)
                await send({"type": "http.response.start", "status": 200, "headers": _XML_HEADERS})
                await send({"type": "http.response.body", "body": _TWIML})
            else:
                result = await intake.telegram_update(channel_id, headers, body)
                structlog.contextvars.bind_contextvars(channel_id=channel_id, duplicate=result.get("duplicate"))
                answer = orjson.dumps(result)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(answer)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": answer})
        except ClientGone:
            return  # nothing to answer; nothing was stored
        except AppError as exc:
            await app_error_response(exc, scope["path"])(scope, receive, send)
