"""Meta's three channel types on one webhook scheme: `MetaProvider` holds what they share (the subscription check,
the `X-Hub-Signature-256` HMAC, the notification parser, the Graph client); WhatsApp Cloud, Instagram and
Messenger differ only in their credentials, their message limit and the body of a send."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import httpx

from services.channels.providers.base import (
    CredentialSchema,
    DeliveryReport,
    Incoming,
    Media,
    SendError,
    SendResult,
    WebhookAnswer,
    WebhookRegistration,
    WebhookRegistrationUnsupported,
    WebhookRequest,
)
from services.channels.providers.meta.graph import GraphClient
from services.channels.providers.meta.payload import Notification, incoming, notification, reports
from shared.errors import Forbidden

_ANSWER = b"EVENT_RECEIVED"
_SIGNATURE_PREFIX = "sha256="
_TOKEN = (re.compile(r"^[A-Za-z0-9_\-|.]{20,300}$"), "access_token does not look like a Meta access token")
_APP_SECRET = (re.compile(r"^[0-9a-fA-F]{32}$"), "app_secret must be the app's 32 hex characters")
_NODE_ID = re.compile(r"^\d{5,25}$")


@dataclass(slots=False)
class MetaRequest:
    """The raw body (the signature covers exactly these bytes) and the signature header; parsed once, when read."""

    signature: str
    body: bytes

    @cached_property
    def notification(self) -> Notification:
        return notification(self.body)


class MetaProvider:
    """The webhook side shared by the three types (any of their instances reads any Meta channel's webhook)."""

    type: ClassVar[str]
    credentials: ClassVar[CredentialSchema]
    max_chars: ClassVar[int]
    node: ClassVar[str]  # the credential naming the Graph node a send goes to (phone_number_id, page_id)
    webhook_path = "meta"
    forbidden = "invalid or missing X-Hub-Signature-256"
    has_status_callback = False
    has_subscription_check = True
    webhook_summary = "Meta (WhatsApp Cloud API, Instagram, Messenger) webhook"
    status_summary = ""
    webhook_refusals: ClassVar[dict[int, dict[str, str]]] = {}

    def __init__(
        self, graph_url: str = "", version: str = "v21.0", media_hosts: tuple[str, ...] = (), timeout: float = 15.0
    ) -> None:
        self.graph = GraphClient(graph_url, version, media_hosts, timeout)

    @classmethod
    def from_settings(cls, settings) -> MetaProvider:
        hosts = tuple(h.strip().lower() for h in settings.meta_media_hosts.split(",") if h.strip())
        return cls(settings.meta_graph_url, settings.meta_graph_version, hosts, settings.send_timeout_seconds)

    # ---- inbound ------------------------------------------------------------------------------------------------
    def subscription(self, credentials: Mapping[str, str], params: Mapping[str, str]) -> str:
        """Meta's GET when the webhook is set in its dashboard: the challenge back if the verify token is ours."""
        expected = credentials.get("verify_token", "").encode()
        given = params.get("hub.verify_token", "").encode()
        challenge = params.get("hub.challenge", "")
        if params.get("hub.mode") != "subscribe" or not expected or not hmac.compare_digest(given, expected):
            raise Forbidden("hub.mode must be subscribe and hub.verify_token this channel's verify_token")
        if not challenge or len(challenge) > 200:
            raise Forbidden("hub.challenge is missing or too long")
        return challenge

    def verifier(self, credentials: Mapping[str, str]) -> bytes:
        return credentials.get("app_secret", "").encode()

    def read(self, request: WebhookRequest) -> MetaRequest:
        return MetaRequest(request.headers.get("x-hub-signature-256", ""), request.body)

    def authentic(self, verifier: bytes, request: MetaRequest) -> bool:
        """HMAC-SHA256 of the raw body with the app secret, compared in constant time; no secret takes nothing."""
        signature = request.signature
        if not verifier or not signature.startswith(_SIGNATURE_PREFIX):
            return False
        digest = hmac.new(verifier, request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(digest.encode(), signature[len(_SIGNATURE_PREFIX) :].lower().encode())

    def messages(self, request: MetaRequest) -> Sequence[Incoming]:
        return incoming(request.notification)

    def statuses(self, request: MetaRequest) -> Sequence[DeliveryReport]:
        return reports(request.notification)

    def answer(self, stored: Sequence[uuid.UUID | None]) -> WebhookAnswer:
        duplicate = all(s is None for s in stored) if stored else None
        return WebhookAnswer(_ANSWER, "text/plain; charset=utf-8", duplicate)

    def delivery_report(self, request: MetaRequest) -> DeliveryReport:
        raise NotImplementedError("Meta's statuses come in the message webhook (statuses)")

    # ---- outbound -----------------------------------------------------------------------------------------------
    def body(self, recipient: str, text: str) -> dict[str, Any]:
        raise NotImplementedError

    async def send(self, credentials: Mapping[str, str], recipient: str, text: str) -> SendResult:
        return await self.graph.send(credentials["access_token"], credentials[self.node], self.body(recipient, text))

    async def send_template(
        self, credentials: Mapping[str, str], recipient: str, template: Mapping[str, Any]
    ) -> SendResult:
        raise SendError(f"{self.type} has no message templates", permanent=True)

    async def typing(self, credentials: Mapping[str, str], recipient: str) -> None:
        body = {"recipient": {"id": recipient}, "sender_action": "typing_on"}
        await self.graph.post(credentials["access_token"], credentials[self.node], body)

    async def fetch_media(
        self, http: httpx.AsyncClient, credentials: Mapping[str, str], item: Mapping[str, Any], max_bytes: int
    ) -> Media:
        """From the Graph host or Meta's media hosts only, with our own client (no redirects followed), capped."""
        return await self.graph.media(credentials["access_token"], item, max_bytes)

    async def register_webhook(self, credentials: Mapping[str, str], url: str) -> WebhookRegistration:
        raise WebhookRegistrationUnsupported(
            "Meta webhooks are set in the app's dashboard (callback URL and verify token from the channel)"
        )

    async def aclose(self) -> None:
        await self.graph.aclose()


def _schema(node: str) -> CredentialSchema:
    return CredentialSchema(
        fields=("access_token", "app_secret", node),
        formats={
            "access_token": _TOKEN,
            "app_secret": _APP_SECRET,
            node: (_NODE_ID, f"{node} must be the numeric id Meta shows for it"),
        },
        shown=("verify_token",),
    )


class WhatsAppCloud(MetaProvider):
    type = "whatsapp_cloud"
    node = "phone_number_id"
    credentials = _schema(node)
    max_chars = 4096

    def body(self, recipient: str, text: str) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient,
            "type": "text",
            "text": {"body": text, "preview_url": False},
        }

    async def send_template(
        self, credentials: Mapping[str, str], recipient: str, template: Mapping[str, Any]
    ) -> SendResult:
        body = {
            "messaging_product": "whatsapp",
            "to": recipient,
            "type": "template",
            "template": {"name": template["name"], "language": {"code": template.get("language") or "en_US"}},
        }
        return await self.graph.send(credentials["access_token"], credentials[self.node], body)

    async def typing(self, credentials: Mapping[str, str], recipient: str) -> None:
        """WhatsApp's typing indicator needs the id of the message being answered, which a reply does not carry."""


class _PageMessaging(MetaProvider):
    node = "page_id"
    credentials = _schema(node)

    def body(self, recipient: str, text: str) -> dict[str, Any]:
        return {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": {"text": text}}


class Instagram(_PageMessaging):
    type = "instagram"
    max_chars = 1000


class Messenger(_PageMessaging):
    type = "messenger"
    max_chars = 2000
