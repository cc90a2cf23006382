"""The two message webhooks as plain ASGI, ahead of FastAPI's whole middleware stack, routing and dependencies.

`POST /webhooks/twilio/{channel_id}` and `POST /webhooks/telegram/{channel_id}` are the only requests whose
rate is set by the customers of every tenant at once; everything they do is in `WebhookIntake`. The FastAPI
routes in router.py declare the same endpoints (OpenAPI) and call the same intake, so behaviour cannot drift;
this layer only skips FastAPI on the way there.

`WebhookFastPath` is the channels app's front path (`create_service_app(front_path=...)`, shared/app.py): the
outermost layer of the app hands the requests it `claims` straight to a `RequestContextMiddleware` around it
(request id, metrics, the one access line, which carries the channel and whether it was a provider retry, and
the problem+json 500 for an unexpected exception), sharing the metrics of the one in FastAPI's stack. So these
requests skip Starlette's ServerErrorMiddleware and FastAPI's exception-telemetry and body-limit middleware, which
do nothing for them (about a tenth of the API's CPU at 1,500 webhooks/s): `RequestContextMiddleware` answers every
exception before ServerErrorMiddleware could, and `read_body` enforces the webhook body limit. Every other request,
including other methods and paths under /webhooks/, takes FastAPI's full stack.
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
    """The front path (shared/app.py `FrontPath`): answers the requests it claims, and only those."""

    def claims(self, scope) -> bool:
        if scope["method"] != "POST" or not scope["path"].startswith("/webhooks/"):
            return False
        parts = scope["path"].split("/")  # "", "webhooks", provider, channel id
        return len(parts) == 4 and parts[2] in _ROUTES and parts[3] != ""

    async def __call__(self, scope, receive, send) -> None:
        parts = scope["path"].split("/")
        provider, channel_id = parts[2], parts[3]
        scope["route"] = _ROUTES[provider]
        state = scope["app"].state
        intake: WebhookIntake = state.webhook_intake
        try:
            body = await read_body(scope, receive, state.settings.webhook_max_body_bytes)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            if provider == "twilio":
                query = scope.get("query_string", b"").decode("latin-1")
                inbound_id = await intake.twilio_message(channel_id, headers, scope["path"], query, body)
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
