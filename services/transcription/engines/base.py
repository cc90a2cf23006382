"""One interface for every speech-to-text engine, its request/result types, and the registry."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class EngineError(RuntimeError):
    """The engine could not transcribe this audio; the message is shown to the user as the job's error."""


class EngineUnavailable(EngineError):
    """The engine is not configured (missing key, model or package)."""


class Cancelled(Exception):
    """The job was cancelled while the engine was working."""


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float | None = None
    speaker: str | None = None


@dataclass
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    text: str
    language: str | None
    duration_seconds: float | None
    segments: list[Segment]
    diarized: bool
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class EngineRequest:
    audio_path: Path
    filename: str
    content_type: str
    language: str | None  # asked for by the request: always used
    speakers_expected: int | None
    diarize: bool
    api_key: str | None = None
    language_hint: str | None = None  # the tenant's locale: used when the audio's own language is uncertain

    @property
    def language_or_hint(self) -> str | None:
        return self.language or self.language_hint


class Progress:
    """Thread-safe progress (0-100) and cancellation flag shared by the engine and the job runner."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0
        self.cancelled = threading.Event()

    @property
    def value(self) -> int:
        with self._lock:
            return self._value

    def set(self, value: float) -> None:
        if self.cancelled.is_set():
            raise Cancelled()
        with self._lock:
            self._value = max(self._value, min(100, max(0, int(value))))


class Engine(Protocol):
    name: str
    diarizes: bool

    async def transcribe(self, request: EngineRequest, progress: Progress) -> Transcript: ...


EngineFactory = Callable[..., Engine]
REGISTRY: dict[str, EngineFactory] = {}


def register(name: str) -> Callable[[EngineFactory], EngineFactory]:
    def deco(factory: EngineFactory) -> EngineFactory:
        REGISTRY[name] = factory
        return factory

    return deco
