"""OpenAI engine: the `openai` SDK's audio transcriptions (whisper-1; gpt-4o-transcribe-diarize for speakers)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.transcription.engines.base import (
    EngineError,
    EngineRequest,
    EngineUnavailable,
    Progress,
    Segment,
    Transcript,
    Word,
    register,
)
from services.transcription.engines.local import whisper_language
from shared.providers import resolve_endpoint

OPENAI_MAX_BYTES = 25 * 1024 * 1024
_LANGUAGE_NAMES = {
    "english": "en",
    "portuguese": "pt",
    "spanish": "es",
    "french": "fr",
    "german": "de",
    "italian": "it",
}


def _language(value: str | None) -> str | None:
    """verbose_json names the language ('english'); our API uses codes ('en')."""
    if not value:
        return None
    return _LANGUAGE_NAMES.get(value.lower()) or whisper_language(value) or value.lower()


@register("openai")
class OpenAIEngine:
    name = "openai"
    diarizes = True

    def __init__(self, settings, **_: Any) -> None:
        self.settings = settings

    def client(self, api_key: str | None):
        try:
            from openai import AsyncOpenAI
        except ImportError as exc:
            raise EngineUnavailable("the openai package is not installed") from exc
        # Only the platform's URL exists here (no tenant base URL): the tenant's key wins, else the platform's.
        endpoint = resolve_endpoint(
            platform_url=self.settings.openai_base_url, platform_key=self.settings.openai_api_key, tenant_key=api_key
        )
        if not endpoint.api_key:
            raise EngineUnavailable(
                "no OpenAI API key: set the tenant secret 'openai_api_key' or TRANSCRIPTION_OPENAI_API_KEY"
            )
        return AsyncOpenAI(api_key=endpoint.api_key, base_url=endpoint.base_url or None, max_retries=2, timeout=600)

    async def transcribe(self, request: EngineRequest, progress: Progress) -> Transcript:
        size = request.audio_path.stat().st_size
        if size > OPENAI_MAX_BYTES:
            raise EngineError(f"OpenAI accepts files up to 25 MB; this one is {size / 1048576:.1f} MB")
        data = await asyncio.to_thread(request.audio_path.read_bytes)
        client = self.client(request.api_key)
        upload = (request.filename or "audio", data, request.content_type)
        language = whisper_language(request.language_or_hint)
        extra: dict[str, Any] = {"language": language} if language else {}
        progress.set(10)
        from openai import OpenAIError

        try:
            if request.diarize:
                result = await client.audio.transcriptions.create(
                    model=self.settings.openai_diarize_model,
                    file=upload,
                    response_format="diarized_json",
                    chunking_strategy="auto",
                    **extra,
                )
                segments = [
                    Segment(start=float(s.start), end=float(s.end), text=s.text.strip(), speaker=s.speaker)
                    for s in result.segments
                ]
                progress.set(100)
                return Transcript(
                    text=result.text.strip(),
                    language=language,
                    duration_seconds=float(result.duration),
                    segments=segments,
                    diarized=True,
                )
            result = await client.audio.transcriptions.create(
                model=self.settings.openai_model,
                file=upload,
                response_format="verbose_json",
                timestamp_granularities=["segment", "word"],
                **extra,
            )
        except OpenAIError as exc:
            raise EngineError(f"OpenAI transcription failed: {type(exc).__name__}: {exc}"[:500]) from exc
        finally:
            await client.close()
        words = [Word(start=float(w.start), end=float(w.end), word=w.word) for w in (result.words or [])]
        segments = []
        for s in result.segments or []:
            seg_words = [w for w in words if w.start >= s.start - 0.01 and w.end <= s.end + 0.01]
            segments.append(Segment(start=float(s.start), end=float(s.end), text=s.text.strip(), words=seg_words))
        progress.set(100)
        return Transcript(
            text=result.text.strip(),
            language=_language(result.language),
            duration_seconds=float(result.duration),
            segments=segments,
            diarized=False,
        )
