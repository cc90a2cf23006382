"""Real speech made at test time: espeak-ng voices converted with ffmpeg (ogg/opus like a WhatsApp voice note)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

EN_SENTENCE = "Hello, I would like to order a large pizza with mushrooms for delivery tonight."
PT_SENTENCE = "Bom dia, eu gostaria de pedir uma pizza grande para entrega hoje à noite."


def require_tools() -> None:
    missing = [t for t in ("espeak-ng", "ffmpeg") if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"missing {missing}: run `bash scripts/ensure-system-packages.sh` (make test does)")


def speak(text: str, voice: str, wav: Path, speed: int = 150) -> Path:
    require_tools()
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True, timeout=60)
    return wav


def convert(src: Path, dst: Path, *args: str) -> Path:
    """ffmpeg conversion; the codec follows from `args` (default: ogg/opus mono 48 kHz, WhatsApp's voice note)."""
    codec = list(args) or ["-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "24k"]
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), *codec, str(dst)], check=True, timeout=120)
    return dst


def voice_note(text: str, voice: str, dst: Path) -> Path:
    wav = speak(text, voice, dst.with_suffix(".src.wav"))
    return convert(wav, dst)


def concat(parts: list[Path], dst: Path, gap_seconds: float = 0.4) -> Path:
    """Join wavs with short silences (longer clips for the benchmark and the crash test)."""
    inputs: list[str] = []
    filters = []
    for i, part in enumerate(parts):
        inputs += ["-i", str(part)]
        filters.append(f"[{i}:a]aresample=22050,apad=pad_dur={gap_seconds}[a{i}]")
    chain = ";".join(filters) + ";" + "".join(f"[a{i}]" for i in range(len(parts)))
    chain += f"concat=n={len(parts)}:v=0:a=1[out]"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", *inputs, "-filter_complex", chain, "-map", "[out]", str(dst)],
        check=True,
        timeout=300,
    )
    return dst


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def dialogue(lines: list[tuple[str, str]], dst: Path, gap_seconds: float = 0.5) -> tuple[Path, list[Turn]]:
    """Turns of (espeak-ng voice, text) joined by sox with silences; the turn times are the ground truth."""
    if shutil.which("sox") is None:
        raise RuntimeError("missing sox: run `bash scripts/ensure-system-packages.sh` (make test does)")
    silence = dst.with_suffix(".gap.wav")
    parts: list[str] = []
    turns: list[Turn] = []
    at = 0.0
    for i, (voice, text) in enumerate(lines):
        wav = speak(text, voice, dst.with_suffix(f".t{i}.wav"))
        if i == 0:
            with wave.open(str(wav)) as w:
                rate = w.getframerate()
            sox_silence = ["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(silence), "trim", "0"]
            subprocess.run([*sox_silence, str(gap_seconds)], check=True, timeout=60)
        seconds = wav_seconds(wav)
        turns.append(Turn(at, at + seconds, voice))
        at += seconds + gap_seconds
        parts += [str(wav), str(silence)]
    subprocess.run(["sox", *parts[:-1], str(dst)], check=True, timeout=120)
    return dst, turns
