"""Meta's webhook payloads (WhatsApp Cloud API `changes`, Instagram and Messenger `messaging`) as our own pydantic
models, read into `Incoming` messages and `DeliveryReport`s: no I/O, on the webhook hot path.

Only the fields we use are declared; everything else Meta sends is ignored. Every customer message becomes an
`Incoming`: a type we do not handle is stored with a placeholder text saying what it was, never dropped. Images
(and WhatsApp stickers, which are WebP images) are `image` messages whose items the media group fetches and chat
stores as attachments (docs/attachments.md).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.channels.providers.base import DeliveryReport, Incoming, short
from shared.errors import BadRequest

OUTSIDE_WINDOW = frozenset({131047})  # WhatsApp: more than 24 hours since the customer's last message
MAX_EVENTS = 500  # messages and statuses of one request we read; Meta batches far fewer
PLACEHOLDERS = {
    "sticker": "[sticker]",
    "image": "[image]",
    "video": "[video]",
    "document": "[document]",
    "file": "[file]",
    "location": "[location]",
    "contacts": "[contact card]",
    "audio": "[voice note]",
}


_ATTACHMENT_TYPES = {"audio": "audio/mp4", "image": "image/jpeg"}  # routing hints only: the bytes decide later


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WaMedia(_Model):
    id: str
    mime_type: str = ""
    caption: str | None = None
    voice: bool | None = None


class WaText(_Model):
    body: str


class WaReaction(_Model):
    message_id: str = ""
    emoji: str | None = None


class WaButton(_Model):
    text: str = ""


class WaInteractiveReply(_Model):
    id: str = ""
    title: str = ""


class WaInteractive(_Model):
    button_reply: WaInteractiveReply | None = None
    list_reply: WaInteractiveReply | None = None


class WaContext(_Model):
    id: str | None = None


class WaMessage(_Model):
    id: str = Field(max_length=200)
    sender: str = Field(alias="from", max_length=200)
    type: str = "unknown"
    text: WaText | None = None
    audio: WaMedia | None = None
    image: WaMedia | None = None
    sticker: WaMedia | None = None
    reaction: WaReaction | None = None
    button: WaButton | None = None
    interactive: WaInteractive | None = None
    context: WaContext | None = None


class WaProfile(_Model):
    name: str | None = None


class WaContact(_Model):
    wa_id: str = ""
    profile: WaProfile | None = None


class WaError(_Model):
    code: int | None = None
    title: str | None = None


class WaStatus(_Model):
    id: str
    status: str
    errors: list[WaError] = []


class WaValue(_Model):
    contacts: list[WaContact] = []
    messages: list[WaMessage] = []
    statuses: list[WaStatus] = []


class WaChange(_Model):
    field: str = ""
    value: WaValue = WaValue()


class MsgAttachmentPayload(_Model):
    url: str | None = None


class MsgAttachment(_Model):
    type: str = "unknown"
    payload: MsgAttachmentPayload | None = None


class MsgMessage(_Model):
    mid: str = Field(max_length=200)
    text: str | None = None
    attachments: list[MsgAttachment] = []
    is_echo: bool = False
    is_unsupported: bool = False


class MsgReaction(_Model):
    mid: str = ""
    action: str = "react"
    emoji: str | None = None
    reaction: str | None = None


class MsgPostback(_Model):
    mid: str | None = None
    title: str = ""


class MsgParty(_Model):
    id: str = Field(max_length=200)


class Messaging(_Model):
    sender: MsgParty
    recipient: MsgParty | None = None
    timestamp: int = 0
    message: MsgMessage | None = None
    reaction: MsgReaction | None = None
    postback: MsgPostback | None = None


class Entry(_Model):
    id: str = ""
    changes: list[WaChange] = []
    messaging: list[Messaging] = []


class Notification(_Model):
    object: str = ""
    entry: list[Entry] = []


def notification(body: bytes) -> Notification:
    try:
        return Notification.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError, TypeError):
        raise BadRequest("body is not a Meta webhook notification") from None


def _media_item(media: WaMedia, kind: str) -> dict[str, Any]:
    return {"media_id": media.id, "content_type": media.mime_type, "kind": kind}


def whatsapp_incoming(msg: WaMessage, names: dict[str, str]) -> Incoming:
    """One WhatsApp message: text, voice notes, images, reactions, stickers, replies to buttons; anything else a
    placeholder naming its type."""
    base: dict[str, Any] = {
        "provider_message_id": msg.id,
        "sender": msg.sender,
        "sender_name": short(names.get(msg.sender)),
        "reply_to": msg.sender,
    }
    if msg.type == "text" and msg.text is not None:
        return Incoming(kind="text", text=msg.text.body, **base)
    if msg.type == "audio" and msg.audio is not None:
        return Incoming(kind="audio", media=[_media_item(msg.audio, "audio")], **base)
    if msg.type == "image" and msg.image is not None:
        return Incoming(kind="image", text=msg.image.caption or None, media=[_media_item(msg.image, "image")], **base)
    if msg.type == "sticker" and msg.sticker is not None:
        return Incoming(kind="image", text=PLACEHOLDERS["sticker"], media=[_media_item(msg.sticker, "sticker")], **base)
    if msg.type == "reaction" and msg.reaction is not None:
        emoji = msg.reaction.emoji
        return Incoming(kind="text", text=f"[reaction {emoji}]" if emoji else "[reaction removed]", **base)
    if msg.type == "button" and msg.button is not None:
        return Incoming(kind="text", text=msg.button.text or "[button]", **base)
    if msg.type == "interactive" and msg.interactive is not None:
        reply = msg.interactive.button_reply or msg.interactive.list_reply
        return Incoming(kind="text", text=(reply.title if reply else "") or "[interactive reply]", **base)
    placeholder = PLACEHOLDERS.get(msg.type, f"[unsupported message type: {msg.type[:40]}]")
    return Incoming(kind="text", text=placeholder, **base)


def messaging_incoming(event: Messaging) -> Incoming | None:
    """One Instagram/Messenger event from a customer; our own sends echoed back (`is_echo`) are not messages."""
    sender = event.sender.id
    base: dict[str, Any] = {"sender": sender, "reply_to": sender}
    if event.message is not None:
        message = event.message
        if message.is_echo:
            return None
        base["provider_message_id"] = message.mid
        media = [
            {"url": a.payload.url, "kind": a.type, "content_type": _ATTACHMENT_TYPES.get(a.type, "")}
            for a in message.attachments[:10]
            if a.payload is not None and a.payload.url
        ]
        audio = [m for m in media if m["kind"] == "audio"]
        if audio:
            return Incoming(kind="audio", text=message.text, media=audio, **base)
        images = [m for m in media if m["kind"] == "image"]
        if images:
            return Incoming(kind="image", text=message.text or None, media=images, **base)
        if message.text:
            return Incoming(kind="media" if media else "text", text=message.text, media=media, **base)
        if media:
            kinds = {m["kind"] for m in media}
            text = " ".join(PLACEHOLDERS.get(k, f"[{k[:40]}]") for k in sorted(kinds))
            return Incoming(kind="media", text=text, media=media, **base)
        what = "unsupported message" if message.is_unsupported else "message without text"
        return Incoming(kind="text", text=f"[{what}]", **base)
    if event.reaction is not None:
        r = event.reaction
        base["provider_message_id"] = f"reaction:{r.mid}:{sender}:{event.timestamp}"[:200]
        emoji = r.emoji or r.reaction
        text = ("[reaction " + emoji + "]" if emoji else "[reaction]") if r.action == "react" else "[reaction removed]"
        return Incoming(kind="text", text=text, **base)
    if event.postback is not None:
        pb = event.postback
        base["provider_message_id"] = (pb.mid or f"postback:{sender}:{event.timestamp}")[:200]
        return Incoming(kind="text", text=pb.title or "[button]", **base)
    return None  # read receipts, deliveries and other events about our own messages


def incoming(note: Notification) -> list[Incoming]:
    """Every customer message of a notification, in the order Meta sent them (several entries and changes)."""
    out: list[Incoming] = []
    for entry in note.entry:
        for change in entry.changes:
            value = change.value
            names = {c.wa_id: c.profile.name for c in value.contacts if c.profile and c.profile.name}
            out.extend(whatsapp_incoming(m, names) for m in value.messages)
        for event in entry.messaging:
            msg = messaging_incoming(event)
            if msg is not None:
                out.append(msg)
    if len(out) > MAX_EVENTS:
        raise BadRequest(f"more than {MAX_EVENTS} messages in one notification")
    return out


def reports(note: Notification) -> list[DeliveryReport]:
    """WhatsApp's `statuses` (sent, delivered, read, failed) of our sends, several per notification."""
    out: list[DeliveryReport] = []
    for entry in note.entry:
        for change in entry.changes:
            for status in change.value.statuses:
                error = status.errors[0] if status.errors else None
                reason = f"meta error {error.code}: {error.title or ''}".strip(": ") if error else None
                closed = status.status == "failed" and any(e.code in OUTSIDE_WINDOW for e in status.errors)
                out.append(DeliveryReport(status.id[:200], status.status[:20], reason, closed))
    return out[:MAX_EVENTS]
