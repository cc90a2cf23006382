"""The one interface every channel provider implements, and the named types that cross it (docs/channels.md).

A provider is one module under services/channels/providers/ and one line in registry.py; the webhook intake, the
outbound sender, the media forwarder and the channel configuration reach it only through the registry.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, Self

import httpx


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A provider's webhook POST as received: what the signature check and the parser read."""

    channel_id: str
    headers: Mapping[str, str]  # lower-case names
    path: str
    query: str
    body: bytes


@dataclass
class Incoming:
    """One customer message parsed from a webhook, provider-neutral: what the intake stores and emits."""

    provider_message_id: str
    kind: str  # text | audio | image | media | edited (docs/attachments.md: what an `image` carries)
    sender: str
    sender_name: str | None = None
    sender_email: str | None = None  # web chat visitors who gave one
    text: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    reply_to: str | None = None  # where answers go (Telegram chat id, WhatsApp address)


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What the provider expects back once its messages are stored."""

    body: bytes
    content_type: str
    duplicate: bool | None  # for the access line: a provider retry (None: nothing was stored)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A provider's delivery status callback about one of our sends."""

    provider_message_id: str
    status: str
    error: str | None
    outside_window: bool = False  # failed because the customer's service window had closed (WhatsApp's 131047)


class ReplyPart(str):
    """One part of a reply as `send` gets it: the text itself, plus what a provider that shows more than text needs
    (the web widget shows who answered and when). Other providers use it as the plain string it is."""

    __slots__ = ("role", "created_at")

    def __new__(cls, text: str, *, role: str = "assistant", created_at: datetime | None = None) -> ReplyPart:
        self = super().__new__(cls, text)
        self.role = role
        self.created_at = created_at or datetime.now(UTC)
        return self


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_message_id: str


class SendError(Exception):
    """A send that failed: `permanent` goes to the DLQ at once, else retried (after `retry_after` if the provider
    said when to come back). `outside_window`: free-form text refused because the customer's service window closed
    (WhatsApp's 24 hours); the channel's template may be sent instead."""

    def __init__(
        self, message: str, *, permanent: bool, retry_after: float | None = None, outside_window: bool = False
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.outside_window = outside_window


@dataclass
class Media:
    content: bytes
    content_type: str


class MediaError(Exception):
    """The media could not be fetched (refused host, too large, provider error)."""


@dataclass(frozen=True, slots=True)
class WebhookRegistration:
    url: str
    allowed_updates: list[str]


class WebhookRegistrationError(Exception):
    """The provider refused to register the webhook (`unavailable`: it did not answer; retry later)."""

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


class WebhookRegistrationUnsupported(WebhookRegistrationError):
    """This provider's webhook is configured in its own console, not through us."""


@dataclass(frozen=True)
class CredentialSchema:
    """The credentials of one channel type: what `POST /api/v1/channels` requires and checks, and what we generate."""

    fields: tuple[str, ...]  # given by the tenant, all required at creation
    formats: Mapping[str, tuple[re.Pattern[str], str]] = field(default_factory=dict)  # field -> (pattern, message)
    generated: tuple[str, ...] = ()  # secrets we make at creation (e.g. Telegram's webhook secret); never shown
    shown: tuple[str, ...] = ()  # values we make at creation that the channel answer shows (Meta's verify_token)

    def validate(self, kind: str, creds: Mapping[str, str], *, partial: bool = False) -> Mapping[str, str]:
        """Check the fields, with a message that says which one is wrong (ValueError)."""
        unknown = set(creds) - set(self.fields)
        if unknown:
            raise ValueError(f"unknown credential(s) for {kind}: {', '.join(sorted(unknown))}")
        missing = [k for k in self.fields if not creds.get(k)]
        if missing and not partial:
            raise ValueError(f"missing credential(s) for {kind}: {', '.join(missing)}")
        for key, value in creds.items():
            if not isinstance(value, str) or len(value) > 300:
                raise ValueError(f"{key} must be a string of at most 300 characters")
        for key, (pattern, message) in self.formats.items():
            if creds.get(key) and not pattern.match(creds[key]):
                raise ValueError(message)
        return creds

    def generate(self) -> dict[str, str]:
        """Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and - in secret_token: 32 random bytes, url-safe."""
        return {name: secrets.token_urlsafe(32) for name in (*self.generated, *self.shown)}


class ChannelProvider(Protocol):
    """One messaging provider. Class attributes describe it; an instance (`from_settings`) holds its clients."""

    type: ClassVar[str]  # the channel `type` in the API
    webhook_path: ClassVar[str]  # /webhooks/<webhook_path>/{channel_id}; "" for none (the web widget posts itself)
    credentials: ClassVar[CredentialSchema]
    max_chars: ClassVar[int]  # the provider's hard limit per message
    forbidden: ClassVar[str]  # the 403's message when the signature or secret does not hold
    has_status_callback: ClassVar[bool]  # POST /webhooks/<webhook_path>/{channel_id}/status
    has_subscription_check: ClassVar[bool]  # GET /webhooks/<webhook_path>/{channel_id} (Meta's hub.challenge)
    webhook_summary: ClassVar[str]  # the routes' OpenAPI summaries
    status_summary: ClassVar[str]
    webhook_refusals: ClassVar[dict[int, dict[str, str]]]  # OpenAPI: the provider's own 4xx beyond every webhook's

    @classmethod
    def from_settings(cls, settings: Any) -> Self: ...

    # ---- inbound (the webhook intake's hot path: no I/O in these) ---------------------------------------------
    def verifier(self, credentials: Mapping[str, str]) -> Any:
        """What `authentic` needs from a channel's credentials, built once per cached channel."""

    def read(self, request: WebhookRequest) -> Any:
        """The request's parts that `authentic` and `messages` read; refuses a malformed one (4xx) before any
        channel is looked up."""

    def authentic(self, verifier: Any, request: Any) -> bool:
        """The signature or secret holds for this channel's credentials."""

    def messages(self, request: Any) -> Sequence[Incoming]:
        """The payload as messages (none: acknowledged and dropped); BadRequest when it is not well formed."""

    def answer(self, stored: Sequence[uuid.UUID | None]) -> WebhookAnswer:
        """The 200's body, given each message's inbound id (None: a provider retry)."""

    def delivery_report(self, request: Any) -> DeliveryReport:
        """A status callback's report (only with `has_status_callback`)."""

    def statuses(self, request: Any) -> Sequence[DeliveryReport]:
        """Delivery reports carried in the message webhook itself (Meta's `statuses`); none for the others."""

    def subscription(self, credentials: Mapping[str, str], params: Mapping[str, str]) -> str:
        """The answer to a subscription check (only with `has_subscription_check`); Forbidden when it fails."""

    # ---- outbound ----------------------------------------------------------------------------------------------
    async def send(self, credentials: Mapping[str, str], recipient: str, text: str) -> SendResult:
        """One message (`text` is a ReplyPart); SendError (permanent or not) when it fails."""

    async def send_template(
        self, credentials: Mapping[str, str], recipient: str, template: Mapping[str, Any]
    ) -> SendResult:
        """The channel's message template (`settings.template`) where free-form text is refused (`outside_window`);
        SendError where the provider has none."""

    async def typing(self, credentials: Mapping[str, str], recipient: str) -> None:
        """A typing indicator, if the provider has one (best effort)."""

    async def fetch_media(
        self, http: httpx.AsyncClient, credentials: Mapping[str, str], item: Mapping[str, Any], max_bytes: int
    ) -> Media:
        """One media item of an inbound message (as `messages` described it), from the provider only; MediaError."""

    async def register_webhook(self, credentials: Mapping[str, str], url: str) -> WebhookRegistration:
        """Point the provider at our webhook URL; WebhookRegistrationUnsupported where that is done elsewhere."""

    async def aclose(self) -> None:
        """Close the provider's clients (at shutdown)."""


class ProviderDefaults:
    """What most providers lack: no subscription check, no delivery reports inside the message webhook, no
    templates. A provider that has them defines its own."""

    has_subscription_check: ClassVar[bool] = False

    def statuses(self, request: Any) -> Sequence[DeliveryReport]:
        return ()

    def subscription(self, credentials: Mapping[str, str], params: Mapping[str, str]) -> str:
        raise NotImplementedError(f"{type(self).__name__} has no subscription check")

    async def send_template(
        self, credentials: Mapping[str, str], recipient: str, template: Mapping[str, Any]
    ) -> SendResult:
        raise SendError(f"{getattr(self, 'type', 'this provider')} has no message templates", permanent=True)


async def read_capped(resp: httpx.Response, max_bytes: int) -> bytes:
    """A media body, refused as soon as it is over `max_bytes` (declared or streamed)."""
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise MediaError(f"media is larger than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise MediaError(f"media is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def short(value: str | None, limit: int = 200) -> str | None:
    return value[:limit] if value else None
