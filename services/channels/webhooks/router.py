"""Provider webhooks, one message route per provider in the registry (and a status route where the provider has
delivery reports). Nothing is stored or emitted unless the request is authentic and well formed; the 2xx leaves
only after the message and its event are committed.

The message routes are served by the plain-ASGI fast path (webhooks/asgi.py) before FastAPI sees them; the
declarations here document them in OpenAPI and call the same `WebhookIntake`, so either way behaves the same.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from services.channels.providers.base import ChannelProvider, WebhookRequest
from services.channels.providers.registry import BY_WEBHOOK_PATH
from services.channels.webhooks.asgi import read_body
from services.channels.webhooks.intake import WebhookIntake

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
_REFUSED = {
    400: {"description": "Malformed body, or a required field is missing"},
    403: {"description": "Signature or secret token missing or wrong"},
    404: {"description": "No such channel of this type"},
    413: {"description": "Body too large (CHANNELS_WEBHOOK_MAX_BODY_BYTES)"},
    422: {"description": "Text Postgres cannot store (a NUL character)"},
    503: {"description": "The database is unavailable; the provider retries"},
}


def _intake(request: Request) -> WebhookIntake:
    return request.app.state.webhook_intake


def _provider(request: Request, cls: type[ChannelProvider]) -> ChannelProvider:
    return request.app.state.providers[cls.type]


async def _webhook_request(channel_id: str, request: Request) -> WebhookRequest:
    body = await read_body(request.scope, request.receive, request.app.state.settings.webhook_max_body_bytes)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
    query = request.scope.get("query_string", b"").decode("latin-1")
    return WebhookRequest(channel_id, headers, request.url.path, query, body)


def _add_routes(cls: type[ChannelProvider]) -> None:
    refused = _REFUSED | cls.webhook_refusals

    async def message(channel_id: str, request: Request) -> Response:
        answer = await _intake(request).receive(_provider(request, cls), await _webhook_request(channel_id, request))
        return Response(answer.body, media_type=answer.content_type)

    router.add_api_route(
        f"/{cls.webhook_path}/{{channel_id}}",
        message,
        methods=["POST"],
        summary=cls.webhook_summary,
        response_class=Response,
        responses=refused,
        name=f"{cls.webhook_path}_message",
    )
    if cls.has_subscription_check:

        async def subscription(channel_id: str, request: Request) -> PlainTextResponse:
            provider = _provider(request, cls)
            channel, _ = await _intake(request).channels.get(channel_id, provider)
            params = {k: v for k, v in request.query_params.items() if k.startswith("hub.")}
            return PlainTextResponse(provider.subscription(channel.credentials, params))

        router.add_api_route(
            f"/{cls.webhook_path}/{{channel_id}}",
            subscription,
            methods=["GET"],
            summary=f"{cls.webhook_summary}: subscription check (hub.challenge)",
            response_class=PlainTextResponse,
            responses={403: {"description": "hub.mode or hub.verify_token wrong"}, 404: _REFUSED[404]},
            name=f"{cls.webhook_path}_subscription",
        )
    if not cls.has_status_callback:
        return

    async def status(channel_id: str, request: Request) -> Response:
        provider = _provider(request, cls)
        parts = provider.read(await _webhook_request(channel_id, request))
        intake = _intake(request)
        channel = await intake.authenticate(provider, channel_id, parts)
        await intake.record_statuses(channel, [provider.delivery_report(parts)])
        return Response(status_code=204)

    router.add_api_route(
        f"/{cls.webhook_path}/{{channel_id}}/status",
        status,
        methods=["POST"],
        summary=cls.status_summary,
        response_class=Response,
        responses=refused,
        name=f"{cls.webhook_path}_status",
    )


for _cls in BY_WEBHOOK_PATH.values():  # one route per path (Meta's three types share theirs)
    _add_routes(_cls)
