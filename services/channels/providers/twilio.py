"""Twilio through its own library: signatures with RequestValidator, sends with the async REST client."""

from __future__ import annotations

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

TWILIO_API = "https://api.twilio.com"


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
