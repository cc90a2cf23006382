"""WhatsApp through Twilio: form webhooks signed with the auth token, sends with the async REST client, media on
Twilio's API host (with Basic auth) or its CDN. No webhook registration: it is set on the Twilio number."""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from services.channels.providers.base import (
    CredentialSchema,
    DeliveryReport,
    Incoming,
    Media,
    MediaError,
    ProviderDefaults,
    SendError,
    SendResult,
    WebhookAnswer,
    WebhookRegistration,
    WebhookRegistrationUnsupported,
    WebhookRequest,
    read_capped,
    short,
)
from services.channels.providers.clients import ClientCache
from shared.errors import BadRequest, Forbidden, UnsupportedMediaType

TWILIO_API = "https://api.twilio.com"
TWILIO_HOSTS = ("api.twilio.com",)
TWILIO_REDIRECT_SUFFIXES = (".twilio.com", ".twiliocdn.com", ".amazonaws.com")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_MEDIA = 10
MAX_FORM_FIELDS = 200


class _RedirectingHttpClient(AsyncTwilioHttpClient):
    """Sends what the library builds for api.twilio.com to another base URL (a stand-in or a proxy)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    async def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return await super().request(method, url, *args, **kwargs)


def make_client(account_sid: str, auth_token: str, api_url: str = "", timeout: float = 15.0) -> Client:
    http = _RedirectingHttpClient(api_url, timeout) if api_url else AsyncTwilioHttpClient(timeout=timeout)
    return Client(account_sid, auth_token, http_client=http)


def whatsapp_address(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


class TwilioParams(dict):
    """The form's fields. `getall` is how twilio's RequestValidator reads a multi-dict: on a plain dict it first
    tries `getall` and `getlist` and catches two AttributeErrors per field, per HMAC."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


@dataclass(frozen=True, slots=True)
class TwilioRequest:
    params: TwilioParams
    url: str  # as Twilio called (and signed) it, on CHANNELS_PUBLIC_BASE_URL
    signature: str


def form_params(content_type: str, body: bytes) -> TwilioParams:
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Twilio webhooks are application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("malformed form body") from None
    if len(pairs) > MAX_FORM_FIELDS:
        raise BadRequest("too many form fields")
    return TwilioParams(pairs)


def twilio_incoming(params: Mapping[str, str]) -> Incoming:
    sid = params.get("MessageSid") or params.get("SmsMessageSid")
    sender = params.get("From")
    if not sid or not sender:
        raise BadRequest("MessageSid and From are required")
    try:
        num_media = min(int(params.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise BadRequest("NumMedia must be a number") from None
    media = [
        {"url": params[f"MediaUrl{i}"], "content_type": params.get(f"MediaContentType{i}", "")}
        for i in range(num_media)
        if params.get(f"MediaUrl{i}")
    ]
    is_audio = any(m["content_type"].startswith("audio/") for m in media)
    images = [m for m in media if m["content_type"].startswith("image/")]  # routing only: the bytes decide later
    if images and not is_audio:
        media = images
    msg = Incoming(
        provider_message_id=sid[:200],
        kind="audio" if is_audio else "image" if images else "media" if media else "text",
        sender=sender[:200],
        sender_name=short(params.get("ProfileName")),
        text=params.get("Body") or None,
        media=media,
        reply_to=sender[:200],
    )
    if msg.text is None and not media:
        raise BadRequest("message has neither Body nor media")
    return msg


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def allowed_twilio_url(url: str, twilio_api_url: str = "") -> bool:
    parts = urlsplit(url)
    if twilio_api_url:
        base = urlsplit(twilio_api_url)
        return (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
    return parts.scheme == "https" and _host(url) in TWILIO_HOSTS


async def fetch_twilio_media(
    http: httpx.AsyncClient, url: str, account_sid: str, auth_token: str, *, max_bytes: int, twilio_api_url: str = ""
) -> Media:
    """Only from Twilio's API host (the credentials go nowhere else), following one redirect to its CDN: no SSRF."""
    if not allowed_twilio_url(url, twilio_api_url):
        raise MediaError("media URL is not on Twilio's API host; refusing to fetch it")
    async with http.stream("GET", url, auth=(account_sid, auth_token), follow_redirects=False, timeout=30) as resp:
        if resp.is_redirect:
            target = resp.headers.get("location", "")
            if not target.startswith("https://") or not _host(target).endswith(TWILIO_REDIRECT_SUFFIXES):
                raise MediaError("Twilio redirected media to an unexpected host")
            async with http.stream("GET", target, follow_redirects=False, timeout=30) as cdn:
                if cdn.status_code != 200:
                    raise MediaError(f"media CDN answered {cdn.status_code}")
                return Media(await read_capped(cdn, max_bytes), cdn.headers.get("content-type", ""))
        if resp.status_code != 200:
            raise MediaError(f"Twilio answered {resp.status_code} for the media")
        return Media(await read_capped(resp, max_bytes), resp.headers.get("content-type", ""))


async def _close_client(client) -> None:
    await client.http_client.close()


class TwilioWhatsApp(ProviderDefaults):
    type = "whatsapp_twilio"
    webhook_path = "twilio"
    credentials = CredentialSchema(
        fields=("account_sid", "auth_token", "from_number"),
        formats={
            "account_sid": (
                re.compile(r"^AC[0-9a-fA-F]{32}$"),
                "account_sid must look like AC followed by 32 hex characters",
            ),
            "from_number": (
                re.compile(r"^(whatsapp:)?\+[1-9]\d{6,15}$"),
                "from_number must be E.164, optionally prefixed with 'whatsapp:' (whatsapp:+5511...)",
            ),
        },
    )
    max_chars = 1600
    forbidden = "invalid Twilio signature"
    has_status_callback = True
    webhook_summary = "Twilio WhatsApp message webhook"
    status_summary = "Twilio delivery status callback"
    webhook_refusals = {415: {"description": "Not application/x-www-form-urlencoded"}}
    _ANSWER = EMPTY_TWIML.encode()

    def __init__(self, api_url: str = "", timeout: float = 15.0, public_base_url: str = "") -> None:
        self.api_url = api_url
        self.timeout = timeout
        self.public_base_url = public_base_url.rstrip("/")
        self.clients = ClientCache(
            lambda sid, token: make_client(sid, token, self.api_url, self.timeout), _close_client, grace=timeout + 5
        )

    @classmethod
    def from_settings(cls, settings) -> TwilioWhatsApp:
        return cls(settings.twilio_api_url, settings.send_timeout_seconds, settings.public_base_url)

    # ---- inbound ------------------------------------------------------------------------------------------------
    def verifier(self, credentials: Mapping[str, str]) -> RequestValidator:
        return RequestValidator(credentials["auth_token"])

    def public_url(self, path: str, query: str) -> str:
        """The URL Twilio called (and signed), on CHANNELS_PUBLIC_BASE_URL: never on the request's Host, which the
        caller chooses. Without a configured base no Twilio signature can be checked, so every one is refused."""
        if not self.public_base_url:
            raise Forbidden("CHANNELS_PUBLIC_BASE_URL is not configured: Twilio signatures cannot be checked")
        return self.public_base_url + path + ("?" + query if query else "")

    def read(self, request: WebhookRequest) -> TwilioRequest:
        params = form_params(request.headers.get("content-type", ""), request.body)
        url = self.public_url(request.path, request.query)
        return TwilioRequest(params, url, request.headers.get("x-twilio-signature", ""))

    def authentic(self, verifier: RequestValidator, request: TwilioRequest) -> bool:
        """`RequestValidator.validate` computes the HMAC of the URL both with and without its port, every time. The
        URL as we rebuilt it is always one of those two forms, so a genuine request is accepted after one HMAC of
        it; anything else gets the library's full check. The same requests pass as with `validate` alone."""
        url, params, signature = request.url, request.params, request.signature
        if not signature or verifier is None:
            return False
        if hmac.compare_digest(verifier.compute_signature(url, params).encode(), signature.encode()):
            return True
        return verifier.validate(url, params, signature)

    def messages(self, request: TwilioRequest) -> Sequence[Incoming]:
        return (twilio_incoming(request.params),)

    def answer(self, stored: Sequence[uuid.UUID | None]) -> WebhookAnswer:
        return WebhookAnswer(self._ANSWER, "text/xml; charset=utf-8", stored[0] is None)

    def delivery_report(self, request: TwilioRequest) -> DeliveryReport:
        sid, status = request.params.get("MessageSid"), request.params.get("MessageStatus")
        if not sid or not status:
            raise BadRequest("MessageSid and MessageStatus are required")
        error = request.params.get("ErrorCode")
        return DeliveryReport(sid, status, f"twilio error {error}" if error else None)

    # ---- outbound -----------------------------------------------------------------------------------------------
    async def send(self, credentials: Mapping[str, str], recipient: str, text: str) -> SendResult:
        client = self.clients.get(credentials["account_sid"], credentials["auth_token"])
        try:
            msg = await client.messages.create_async(
                from_=whatsapp_address(credentials["from_number"]), to=whatsapp_address(recipient), body=text
            )
            return SendResult(msg.sid)
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise SendError(f"twilio: HTTP {exc.status}", permanent=False) from None
            raise SendError(f"twilio refused: HTTP {exc.status} code {exc.code}", permanent=True) from None
        except (OSError, TimeoutError) as exc:
            raise SendError(f"twilio: {type(exc).__name__}", permanent=False) from None

    async def typing(self, credentials: Mapping[str, str], recipient: str) -> None:
        """WhatsApp through Twilio has no typing indicator."""

    async def fetch_media(
        self, http: httpx.AsyncClient, credentials: Mapping[str, str], item: Mapping[str, Any], max_bytes: int
    ) -> Media:
        return await fetch_twilio_media(
            http,
            item["url"],
            credentials["account_sid"],
            credentials["auth_token"],
            max_bytes=max_bytes,
            twilio_api_url=self.api_url,
        )

    async def register_webhook(self, credentials: Mapping[str, str], url: str) -> WebhookRegistration:
        raise WebhookRegistrationUnsupported("the webhook of a Twilio number is set in Twilio's console")

    async def aclose(self) -> None:
        await self.clients.aclose()
