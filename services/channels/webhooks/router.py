"""Provider webhooks. Nothing is stored or emitted unless the request is authentic and well formed;
the 2xx leaves only after the message and its event are committed.

The two message routes are served by the plain-ASGI fast path (webhooks/asgi.py) before FastAPI sees them; the
declarations here document them in OpenAPI and call the same `WebhookIntake`, so either way behaves the same.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.channels.webhooks.asgi import read_body
from services.channels.webhooks.intake import EMPTY_TWIML, WebhookIntake
from services.channels.webhooks.service import record_status
from shared.db import SessionDep
from shared.errors import BadRequest

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
_REFUSED = {
    400: {"description": "Malformed body, or a required field is missing"},
    403: {"description": "Signature or secret token missing or wrong"},
    404: {"description": "No such channel of this type"},
    413: {"description": "Body too large (CHANNELS_WEBHOOK_MAX_BODY_BYTES)"},
    422: {"description": "Text Postgres cannot store (a NUL character)"},
    503: {"description": "The database is unavailable; the provider retries"},
}
_TWILIO_REFUSED = _REFUSED | {415: {"description": "Not application/x-www-form-urlencoded"}}


def _intake(request: Request) -> WebhookIntake:
    return request.app.state.webhook_intake


async def _body(request: Request) -> bytes:
    return await read_body(request.scope, request.receive, request.app.state.settings.webhook_max_body_bytes)


def _headers(request: Request) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}


@router.post(
    "/twilio/{channel_id}",
    summary="Twilio WhatsApp message webhook",
    response_class=Response,
    responses=_TWILIO_REFUSED,
)
async def twilio_message(channel_id: str, request: Request) -> Response:
    body = await _body(request)
    query = request.scope.get("query_string", b"").decode("latin-1")
    await _intake(request).twilio_message(channel_id, _headers(request), request.url.path, query, body)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(
    "/twilio/{channel_id}/status",
    summary="Twilio delivery status callback",
    response_class=Response,
    responses=_TWILIO_REFUSED,
)
async def twilio_status(channel_id: str, request: Request, session: SessionDep) -> Response:
    body = await _body(request)
    intake = _intake(request)
    headers = _headers(request)
    params = intake.twilio_params(headers.get("content-type", ""), body)
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = intake.public_url(request.url.path, query)
    channel = await intake.twilio_channel(channel_id, url, params, headers.get("x-twilio-signature", ""))
    sid, status = params.get("MessageSid"), params.get("MessageStatus")
    if not sid or not status:
        raise BadRequest("MessageSid and MessageStatus are required")
    error = params.get("ErrorCode")
    await record_status(session, channel, sid, status, f"twilio error {error}" if error else None)
    return Response(status_code=204)


@router.post("/telegram/{channel_id}", summary="Telegram bot update webhook", responses=_REFUSED)
async def telegram_update(channel_id: str, request: Request) -> dict:
    body = await _body(request)
    return await _intake(request).telegram_update(channel_id, _headers(request), body)
