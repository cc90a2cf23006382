"""Download a customer's media from the provider that holds it, and from nowhere else (no SSRF).

Twilio media URLs need Basic auth with the account's credentials and may redirect to Twilio's CDN;
the credentials are only ever sent to Twilio's API host. Telegram needs getFile, then the file URL
on the Bot API server. Sizes are capped while streaming.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from services.channels.providers import telegram

TWILIO_HOSTS = ("api.twilio.com",)
TWILIO_REDIRECT_SUFFIXES = (".twilio.com", ".twiliocdn.com", ".amazonaws.com")


class MediaError(Exception):
    """The media could not be fetched (refused host, too large, provider error)."""


@dataclass
class Media:
    content: bytes
    content_type: str


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def allowed_twilio_url(url: str, twilio_api_url: str = "") -> bool:
    parts = urlsplit(url)
    if twilio_api_url:
        base = urlsplit(twilio_api_url)
        return (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
    return parts.scheme == "https" and _host(url) in TWILIO_HOSTS


async def _read_capped(resp: httpx.Response, max_bytes: int) -> bytes:
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


async def fetch_twilio_media(
    http: httpx.AsyncClient, url: str, account_sid: str, auth_token: str, *, max_bytes: int, twilio_api_url: str = ""
) -> Media:
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
                return Media(await _read_capped(cdn, max_bytes), cdn.headers.get("content-type", ""))
        if resp.status_code != 200:
            raise MediaError(f"Twilio answered {resp.status_code} for the media")
        return Media(await _read_capped(resp, max_bytes), resp.headers.get("content-type", ""))


async def fetch_telegram_file(
    http: httpx.AsyncClient, bot_token: str, file_id: str, *, max_bytes: int, api_url: str = ""
) -> Media:
    bot = telegram.make_bot(bot_token, api_url)
    try:
        info = await bot.get_file(file_id)
    except Exception as exc:  # noqa: BLE001 - any refusal means we cannot get the file
        raise MediaError(f"Telegram getFile failed: {type(exc).__name__}") from None
    finally:
        await bot.session.close()
    if info.file_size and info.file_size > max_bytes:
        raise MediaError(f"media is larger than {max_bytes} bytes")
    if not info.file_path:
        raise MediaError("Telegram returned no file path")
    url = telegram.file_url(api_url, bot_token, info.file_path)
    async with http.stream("GET", url, follow_redirects=False, timeout=30) as resp:
        if resp.status_code != 200:
            raise MediaError(f"Telegram file download answered {resp.status_code}")
        return Media(await _read_capped(resp, max_bytes), resp.headers.get("content-type", "audio/ogg"))
