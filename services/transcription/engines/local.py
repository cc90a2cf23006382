"""Local engine: faster-whisper (CTranslate2 on CPU) on the packaged Whisper base model, speakers by diarization.py."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.transcription.engines import diarization
from services.transcription.engines.base import (
    Cancelled,
    EngineError,
    EngineRequest,
    EngineUnavailable,
    Progress,
    Segment,
    Transcript,
    Word,
    register,
)
from services.transcription.engines.model_files import ModelFilesError, ensure_whisper_base

NO_DIARIZATION_NOTE = "speaker labels are off for the local engine (TRANSCRIPTION_LOCAL_DIARIZATION=false)"
_models: dict[tuple, Any] = {}
_models_lock = threading.Lock()


def load_model(cache_dir: str, compute_type: str = "int8", cpu_threads: int = 0, num_workers: int = 1):
    """One WhisperModel per process and configuration (loading takes seconds and ~150 MB)."""
    key = (cache_dir, compute_type, cpu_threads, num_workers)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise EngineUnavailable("faster-whisper is not installed (the 'transcription' extra)") from exc
            try:
                path = ensure_whisper_base(cache_dir)
            except ModelFilesError as exc:
                raise EngineUnavailable(str(exc)) from exc
            model = WhisperModel(
                str(path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads, num_workers=num_workers
            )
            _models[key] = model
        return model


def whisper_language(value: str | None) -> str | None:
    """'pt-BR' / 'pt_BR' / 'PT' -> 'pt'; None or unknown codes -> None (detect)."""
    if not value:
        return None
    code = value.replace("_", "-").split("-")[0].strip().lower()
    try:
        from faster_whisper.tokenizer import _LANGUAGE_CODES
    except ImportError:
        return code or None
    return code if code in _LANGUAGE_CODES else None


@register("local")
class LocalWhisperEngine:
    name = "local"

    def __init__(self, settings, **_: Any) -> None:
        self.settings = settings
        self.diarizes = settings.local_diarization
        self._executor = ThreadPoolExecutor(max_workers=settings.max_concurrent_jobs, thread_name_prefix="whisper")

    def model(self):
        s = self.settings
        threads = s.cpu_threads or max(1, (os.cpu_count() or 2) // s.max_concurrent_jobs)
        return load_model(s.model_cache_dir, s.compute_type, threads, s.max_concurrent_jobs)

    def warm_up(self) -> None:
        """Load the Whisper model (and the voice encoder when speaker labels are on) before the first job."""
        self.model()
        if self.diarizes:
            diarization.load_encoder()

    async def wait_idle(self) -> None:
        """Until every decode already handed to the pool has returned (a cancelled one ends with its window)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, lambda: None) for _ in range(self.settings.max_concurrent_jobs))
        )

    async def transcribe(self, request: EngineRequest, progress: Progress) -> Transcript:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.transcribe_sync, request, progress)

    def transcribe_sync(self, request: EngineRequest, progress: Progress) -> Transcript:
        s = self.settings
        if progress.cancelled.is_set():  # cancelled while waiting for a free slot
            raise Cancelled()
        model = self.model()
        options: dict[str, Any] = {
            "beam_size": s.beam_size,
            "vad_filter": s.vad_filter,
            "word_timestamps": s.word_timestamps,
        }
        try:
            from faster_whisper.audio import decode_audio

            audio = decode_audio(str(request.audio_path), sampling_rate=16000)
        except Exception as exc:  # noqa: BLE001 - av raises many kinds; all mean "cannot decode"
            raise EngineError(f"could not decode the audio: {type(exc).__name__}: {exc}"[:500]) from exc
        if len(audio) == 0:
            raise EngineError("the audio holds no samples")
        options["language"], source = self.choose_language(model, audio, request)
        progress.set(5)  # decoded; the first segment only arrives after a whole 30 s window
        diarize = self.diarizes and (request.speakers_expected or 0) >= 2
        share = 90 if diarize else 99  # of the progress bar for Whisper; speaker labels take the rest
        try:
            if s.batched:
                from faster_whisper import BatchedInferencePipeline

                pipeline = BatchedInferencePipeline(model=model)
                segments_iter, info = pipeline.transcribe(audio, batch_size=s.batch_size, **options)
            else:
                segments_iter, info = model.transcribe(audio, **options)
            duration = float(info.duration or 0.0)
            segments: list[Segment] = []
            for seg in segments_iter:
                words = [
                    Word(start=float(w.start), end=float(w.end), word=w.word, probability=float(w.probability))
                    for w in (seg.words or [])
                ]
                segments.append(Segment(start=float(seg.start), end=float(seg.end), text=seg.text.strip(), words=words))
                if duration > 0:
                    progress.set(min(share, seg.end / duration * share))
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - surface a readable error, never crash the worker
            raise EngineError(f"transcription failed: {type(exc).__name__}: {exc}"[:500]) from exc
        if diarize and segments:
            try:
                segments = diarization.diarize(audio, segments, request.speakers_expected)
            except EngineUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - surface a readable error, never crash the worker
                raise EngineError(f"speaker labelling failed: {type(exc).__name__}: {exc}"[:500]) from exc
        progress.set(100)
        return Transcript(
            text=" ".join(seg.text for seg in segments if seg.text).strip(),
            language=info.language,
            duration_seconds=round(duration, 3),
            segments=segments,
            diarized=diarize,
            notes=[NO_DIARIZATION_NOTE] if request.diarize and not self.diarizes else [],
            raw={"language_probability": info.language_probability, "language_source": source},
        )

    def choose_language(self, model, audio, request: EngineRequest) -> tuple[str | None, str]:
        """The request's language if it names one. Otherwise the audio's own language when Whisper is confident of
        it, else the tenant's locale: auto-detection is unreliable on short Portuguese notes (low
        probability, detected as Latin or Czech), while forcing the locale on speech in another language makes Whisper
        translate it (an English note in a pt-BR tenant came out in Portuguese)."""
        if request.language:
            return whisper_language(request.language), "requested"
        hint = whisper_language(request.language_hint)
        if not hint:
            return None, "detected"
        detected, probability, _ = model.detect_language(audio)
        if detected == hint or probability >= self.settings.language_detect_min_probability:
            return detected, "detected"
        return hint, "tenant_locale"
