"""AssemblyAI engine: its REST API over httpx (upload, transcript with speaker labels, polling until done)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

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

_STATUS_PROGRESS = {"queued": 20, "processing": 50}


async def _chunks(path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:  # noqa: ASYNC230 - 1 MB reads of a local file
        while chunk := await asyncio.to_thread(fh.read, size):
            yield chunk


@register("assemblyai")
class AssemblyAIEngine:
    name = "assemblyai"
    diarizes = True

    def __init__(self, settings, **_: Any) -> None:
        self.settings = settings

    async def transcribe(self, request: EngineRequest, progress: Progress) -> Transcript:
        key = request.api_key or self.settings.assemblyai_api_key
        if not key:
            raise EngineUnavailable(
                "no AssemblyAI API key: set the tenant secret 'assemblyai_api_key' or TRANSCRIPTION_ASSEMBLYAI_API_KEY"
            )
        base = self.settings.assemblyai_url.rstrip("/")
        async with httpx.AsyncClient(base_url=base, headers={"authorization": key}, timeout=60) as http:
            try:
                return await self._run(http, request, progress)
            except httpx.HTTPError as exc:
                raise EngineError(f"AssemblyAI request failed: {type(exc).__name__}: {exc}"[:500]) from exc

    async def _run(self, http: httpx.AsyncClient, request: EngineRequest, progress: Progress) -> Transcript:
        r = await http.post(
            "/v2/upload", content=_chunks(request.audio_path), headers={"content-type": "application/octet-stream"}
        )
        _check(r, "upload")
        upload_url = r.json()["upload_url"]
        progress.set(10)
        body: dict[str, Any] = {"audio_url": upload_url, "speaker_labels": bool(request.diarize)}
        if request.diarize and request.speakers_expected:
            body["speakers_expected"] = request.speakers_expected
        language = whisper_language(request.language_or_hint)
        if language:
            body["language_code"] = language
        else:
            body["language_detection"] = True
        r = await http.post("/v2/transcript", json=body)
        _check(r, "transcript")
        transcript_id = r.json()["id"]
        deadline = time.monotonic() + self.settings.assemblyai_timeout_seconds
        while True:
            r = await http.get(f"/v2/transcript/{transcript_id}")
            _check(r, "poll")
            data = r.json()
            status = data.get("status")
            if status == "completed":
                break
            if status == "error":
                raise EngineError(f"AssemblyAI could not transcribe: {data.get('error') or 'unknown error'}"[:500])
            progress.set(_STATUS_PROGRESS.get(status, 30))
            if time.monotonic() > deadline:
                raise EngineError(f"AssemblyAI did not finish within {self.settings.assemblyai_timeout_seconds:.0f}s")
            await asyncio.sleep(self.settings.assemblyai_poll_seconds)
        progress.set(100)
        return _transcript(data, bool(request.diarize))


def _check(r: httpx.Response, step: str) -> None:
    if r.status_code >= 400:
        try:
            detail = r.json().get("error") or r.text
        except ValueError:
            detail = r.text
        raise EngineError(f"AssemblyAI {step} answered {r.status_code}: {detail}"[:500])


def _transcript(data: dict[str, Any], diarize: bool) -> Transcript:
    """AssemblyAI times are milliseconds; utterances carry speakers, words carry timings."""

    def words_of(items: list[dict[str, Any]]) -> list[Word]:
        return [
            Word(
                start=w["start"] / 1000,
                end=w["end"] / 1000,
                word=w["text"],
                probability=w.get("confidence"),
                speaker=w.get("speaker"),
            )
            for w in items or []
        ]

    utterances = data.get("utterances") or []
    if utterances:
        segments = [
            Segment(
                start=u["start"] / 1000,
                end=u["end"] / 1000,
                text=u["text"].strip(),
                speaker=u.get("speaker"),
                words=words_of(u.get("words", [])),
            )
            for u in utterances
        ]
    else:
        words = words_of(data.get("words", []))
        segments = (
            [Segment(start=words[0].start, end=words[-1].end, text=(data.get("text") or "").strip(), words=words)]
            if words
            else []
        )
    duration = data.get("audio_duration")
    return Transcript(
        text=(data.get("text") or "").strip(),
        language=whisper_language(data.get("language_code")) or data.get("language_code"),
        duration_seconds=float(duration) if duration is not None else None,
        segments=segments,
        diarized=diarize and any(s.speaker for s in segments),
        raw={"assemblyai_id": data.get("id")},
    )
