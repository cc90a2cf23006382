"""Transcript exports: txt, srt, vtt, json, docx (speaker names and timestamps)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Literal

import orjson

from services.transcription.jobs.schemas import TranscriptionRead

ExportFormat = Literal["txt", "srt", "vtt", "json", "docx"]
MEDIA_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def timestamp(seconds: float, sep: str = ",") -> str:
    """HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (VTT)."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def clock(seconds: float) -> str:
    return timestamp(seconds)[:8]


def speaker_name(label: str | None) -> str | None:
    if not label:
        return None
    return f"Speaker {label}" if len(label) <= 3 else label


def to_txt(t: TranscriptionRead) -> bytes:
    if not t.segments:
        return ((t.text or "") + "\n").encode()
    lines = []
    for seg in t.segments:
        who = speaker_name(seg.speaker)
        lines.append(f"[{clock(seg.start)}] {who + ': ' if who else ''}{seg.text}")
    return ("\n".join(lines) + "\n").encode()


def to_srt(t: TranscriptionRead) -> bytes:
    blocks = []
    for i, seg in enumerate(t.segments, 1):
        who = speaker_name(seg.speaker)
        end = max(seg.end, seg.start + 0.001)
        blocks.append(f"{i}\n{timestamp(seg.start)} --> {timestamp(end)}\n{who + ': ' if who else ''}{seg.text}\n")
    return "\n".join(blocks).encode()


def to_vtt(t: TranscriptionRead) -> bytes:
    blocks = ["WEBVTT\n"]
    for seg in t.segments:
        who = speaker_name(seg.speaker)
        end = max(seg.end, seg.start + 0.001)
        text = seg.text.replace("-->", "->")
        blocks.append(f"{timestamp(seg.start, '.')} --> {timestamp(end, '.')}\n{f'<v {who}>' if who else ''}{text}\n")
    return "\n".join(blocks).encode()


def to_json(t: TranscriptionRead) -> bytes:
    return orjson.dumps(t.model_dump(mode="json"), option=orjson.OPT_INDENT_2)


def to_docx(t: TranscriptionRead) -> bytes:
    from docx import Document
    from docx.shared import Pt, RGBColor

    doc = Document()
    doc.add_heading(f"Transcription — {t.filename or t.id}", level=1)
    meta = [
        ("Date", t.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Duration", clock(t.duration_seconds or 0)),
        ("Language", t.language or "unknown"),
        ("Engine", t.engine or ""),
    ]
    for label, value in meta:
        p = doc.add_paragraph()
        p.add_run(f"{label}: ").bold = True
        p.add_run(value)
    for note in t.notes:
        doc.add_paragraph(note).runs[0].italic = True
    doc.add_paragraph()
    segments = t.segments or []
    if not segments and t.text:
        doc.add_paragraph(t.text)
    for seg in segments:
        p = doc.add_paragraph()
        stamp = p.add_run(f"[{clock(seg.start)}] ")
        stamp.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
        stamp.font.size = Pt(9)
        who = speaker_name(seg.speaker)
        if who:
            p.add_run(f"{who}: ").bold = True
        p.add_run(seg.text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


RENDERERS: dict[str, Callable[[TranscriptionRead], bytes]] = {
    "txt": to_txt,
    "srt": to_srt,
    "vtt": to_vtt,
    "json": to_json,
    "docx": to_docx,
}
