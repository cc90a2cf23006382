"""The providers' message webhooks as plain ASGI, ahead of FastAPI's whole middleware stack, routing and dependencies.

`POST /webhooks/<provider>/{channel_id}` (one per provider in providers/registry.py) are the only requests whose
rate is set by the customers of every tenant at once; everything they do is in `WebhookIntake`. The FastAPI
routes in router.py declare the same endpoints (OpenAPI) and call the same intake, so behaviour cannot drift;
this layer only skips FastAPI on the way there.

`WebhookFastPath` is the channels app's front path (`create_service_app(front_path=...)`, shared/app.py): the
outermost layer of the app hands the requests it `claims` straight to a `RequestContextMiddleware` around it
(request id, metrics, the one access line, which carries the channel and whether it was a provider retry, and
the problem+json 500 for an unexpected exception), sharing the metrics of the one in FastAPI's stack. So these
requests skip Starlette's ServerErrorMiddleware and FastAPI's exception-telemetry and body-limit middleware, which
do nothing for them (their CPU: docs/benchmarks/pipeline.md): `RequestContextMiddleware` answers every
exception before ServerErrorMiddleware could, and `read_body` enforces the webhook body limit. Every other request,
including other methods and paths under /webhooks/, takes FastAPI's full stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from services.channels.providers.base import WebhookRequest
from services.channels.providers.registry import BY_WEBHOOK_PATH
from services.channels.webhooks.intake import WebhookIntake
from shared.asgi import ClientGone
from shared.asgi import read_body as read_asgi_body
from shared.errors import AppError, PayloadTooLarge, app_error_response


@dataclass(frozen=True)
class _Route:
    path: str  # the template RequestContextMiddleware labels metrics and the access line with


_ROUTES = {p.webhook_path: _Route(f"/webhooks/{p.webhook_path}/{{channel_id}}") for p in BY_WEBHOOK_PATH.values()}


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
            query = scope.get("query_string", b"").decode("latin-1")
            request = WebhookRequest(channel_id, headers, scope["path"], query, body)
            answer = await intake.receive(state.providers.by_webhook_path[provider], request)
            structlog.contextvars.bind_contextvars(channel_id=channel_id, duplicate=answer.duplicate)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", answer.content_type.encode()),
                        (b"content-length", str(len(answer.body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": answer.body})
        except ClientGone:
            return  # nothing to answer; nothing was stored
        except AppError as exc:
            await app_error_response(exc, scope["path"])(scope, receive, send)
