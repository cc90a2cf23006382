"""Audio that arrives with an event (voice notes): inline base64, or a tenant URL fetched through shared/egress.py."""

from __future__ import annotations

import asyncio
import base64
import binascii
from pathlib import Path

import httpx

from services.transcription.config import TranscriptionSettings
from shared.egress import EgressRefused, ResponseTooLarge
from shared.events.transcription import TranscriptionRequested


class AudioUnavailable(Exception):
    """Why the event's audio cannot be used, in words the user can read."""


async def fetch_audio(
    egress: httpx.AsyncClient, settings: TranscriptionSettings, request: TranscriptionRequested, temp: Path
) -> int:
    """Writes the audio to `temp`, returns its size; any failure is an AudioUnavailable with the reason."""
    limit = settings.max_upload_bytes
    if request.audio_b64:
        if len(request.audio_b64) > settings.max_inline_audio_bytes * 4 // 3 + 8:
            raise AudioUnavailable("inline audio is larger than the inline limit; send audio_url instead")
        try:
            data = base64.b64decode(request.audio_b64, validate=True)
        except (binascii.Error, ValueError):
            raise AudioUnavailable("audio_b64 is not valid base64") from None
        await asyncio.to_thread(temp.write_bytes, data)
        return len(data)
    if request.audio_url:
        size = 0
        try:
            async with egress.stream("GET", request.audio_url, timeout=60) as r:
                if r.status_code != 200:
                    raise AudioUnavailable(f"audio_url answered {r.status_code}")
                with temp.open("wb") as fh:  # noqa: ASYNC230 - chunked writes, one at a time
                    async for chunk in r.aiter_bytes(1 << 16):
                        size += len(chunk)
                        if size > limit:
                            raise AudioUnavailable(f"the audio is larger than the limit of {limit} bytes")
                        await asyncio.to_thread(fh.write, chunk)
        except AudioUnavailable:
            raise
        except EgressRefused as exc:
            raise AudioUnavailable(f"audio_url refused: {exc}") from None
        except ResponseTooLarge:
            raise AudioUnavailable(f"the audio is larger than the limit of {limit} bytes") from None
        except Exception as exc:  # noqa: BLE001
            raise AudioUnavailable(f"could not download audio_url: {type(exc).__name__}") from None
        return size
    raise AudioUnavailable("the request carries no audio (audio_b64 or audio_url)")
