"""Provider webhooks. Nothing is stored or emitted unless the request is authentic and well formed;
the 2xx leaves only after the message and its event are committed."""

from __future__ import annotations

import hmac
import uuid
from urllib.parse import parse_qsl

import orjson
import structlog
from aiogram.types import Update
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from services.channels.configs.models import Channel
from services.channels.configs.repository import ChannelRepository
from services.channels.deps import public_base_url
from services.channels.webhooks.service import Incoming, accept, record_status
from shared.db import SessionDep
from shared.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = structlog.get_logger("webhooks")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_MAX_MEDIA = 10
_CREDS_CACHE_MAX = 1024
_creds_cache: dict[str, dict[str, str]] = {}


def _credentials(request: Request, channel: Channel) -> dict[str, str]:
    """The channel's decrypted credentials, memoised by ciphertext (a rotated secret is a new ciphertext, so this
    never serves a stale one). Read from app.state directly: a sync dependency would cost every webhook a
    thread-pool hop."""
    token = channel.credentials_encrypted
    creds = _creds_cache.get(token)
    if creds is None:
        creds = orjson.loads(request.app.state.box.decrypt(token))
        if len(_creds_cache) >= _CREDS_CACHE_MAX:
            _creds_cache.clear()
        _creds_cache[token] = creds
    return creds


async def _body(request: Request) -> bytes:
    """The body, refused past the size limit without reading it all."""
    limit = request.app.state.settings.webhook_max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _channel(session, channel_id: str, kind: str) -> Channel:
    try:
        cid = uuid.UUID(channel_id)
    except ValueError:
        raise NotFound("unknown channel") from None
    channel = await ChannelRepository(session).get_for_webhook(cid, kind)
    if channel is None:
        raise NotFound("unknown channel")
    return channel


def _twilio_params(request: Request, body: bytes) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Twilio webhooks are application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("malformed form body") from None
    if len(pairs) > 200:
        raise BadRequest("too many form fields")
    return dict(pairs)


def _verify_twilio(request: Request, channel: Channel, params: dict[str, str]) -> dict[str, str]:
    """Twilio signs the public URL it called plus the sorted form; rebuild that URL as Twilio saw it."""
    creds = _credentials(request, channel)
    signature = request.headers.get("x-twilio-signature", "")
    url = public_base_url(request) + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not signature or not RequestValidator(creds["auth_token"]).validate(url, params, signature):
        raise Forbidden("invalid Twilio signature")
    return creds


@router.post("/twilio/{channel_id}", summary="Twilio WhatsApp message webhook", response_class=Response)
async def twilio_message(channel_id: str, request: Request, session: SessionDep) -> Response:
    body = await _body(request)
    channel = await _channel(session, channel_id, "whatsapp_twilio")
    params = _twilio_params(request, body)
    _verify_twilio(request, channel, params)
    sid = params.get("MessageSid") or params.get("SmsMessageSid")
    sender = params.get("From")
    if not sid or not sender:
        raise BadRequest("MessageSid and From are required")
    try:
        num_media = min(int(params.get("NumMedia") or 0), _MAX_MEDIA)
    except ValueError:
        raise BadRequest("NumMedia must be a number") from None
    media = [
        {"url": params[f"MediaUrl{i}"], "content_type": params.get(f"MediaContentType{i}", "")}
        for i in range(num_media)
        if params.get(f"MediaUrl{i}")
    ]
    is_audio = any(m["content_type"].startswith("audio/") for m in media)
    msg = Incoming(
        provider_message_id=sid[:200],
        kind="audio" if is_audio else "media" if media else "text",
        sender=sender[:200],
        sender_name=(params.get("ProfileName") or None),
        text=params.get("Body") or None,
        media=media,
        reply_to=sender[:200],
    )
    if msg.text is None and not media:
        raise BadRequest("message has neither Body nor media")
    inbound_id = await accept(session, channel, msg)
    log.info("twilio_inbound", channel_id=str(channel.id), duplicate=inbound_id is None, kind=msg.kind)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/twilio/{channel_id}/status", summary="Twilio delivery status callback", response_class=Response)
async def twilio_status(channel_id: str, request: Request, session: SessionDep) -> Response:
    body = await _body(request)
    channel = await _channel(session, channel_id, "whatsapp_twilio")
    params = _twilio_params(request, body)
    _verify_twilio(request, channel, params)
    sid, status = params.get("MessageSid"), params.get("MessageStatus")
    if not sid or not status:
        raise BadRequest("MessageSid and MessageStatus are required")
    error = params.get("ErrorCode")
    await record_status(session, channel, sid, status, f"twilio error {error}" if error else None)
    return Response(status_code=204)


def _telegram_incoming(update: Update) -> Incoming | None:
    """What we handle: text, voice, audio, and edited text. Anything else is acknowledged and dropped."""
    message = update.message or update.edited_message
    if message is None or message.chat is None:
        return None
    user = message.from_user
    name = " ".join(p for p in (user.first_name, user.last_name) if p) if user else None
    base = {
        "provider_message_id": str(update.update_id),
        "sender": str(user.id if user else message.chat.id),
        "sender_name": name,
        "reply_to": str(message.chat.id),
    }
    if update.edited_message is not None:
        if not message.text:
            return None
        return Incoming(kind="edited", text=message.text, **base)
    if message.voice or message.audio:
        f = message.voice or message.audio
        media = [
            {
                "file_id": f.file_id,
                "content_type": f.mime_type or "audio/ogg",
                "duration": f.duration,
                "file_size": f.file_size,
            }
        ]
        return Incoming(kind="audio", text=message.caption, media=media, **base)
    if message.text:
        return Incoming(kind="text", text=message.text, **base)
    return None


@router.post("/telegram/{channel_id}", summary="Telegram bot update webhook")
async def telegram_update(channel_id: str, request: Request, session: SessionDep) -> dict:
    body = await _body(request)
    channel = await _channel(session, channel_id, "telegram")
    creds = _credentials(request, channel)
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    if not hmac.compare_digest(given.encode(), creds["webhook_secret"].encode()):
        raise Forbidden("invalid or missing X-Telegram-Bot-Api-Secret-Token")
    try:
        update = Update.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError, TypeError):
        raise BadRequest("body is not a Telegram Update") from None
    incoming = _telegram_incoming(update)
    if incoming is None:
        return {"ok": True, "handled": False}
    inbound_id = await accept(session, channel, incoming)
    log.info("telegram_inbound", channel_id=str(channel.id), duplicate=inbound_id is None, kind=incoming.kind)
    return {"ok": True, "handled": True, "duplicate": inbound_id is None}
