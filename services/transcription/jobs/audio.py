"""Audio by its bytes: type sniffing, duration probe, and integrity checks that catch truncated files."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

SNIFF_BYTES = 64


@dataclass(frozen=True)
class AudioType:
    format: str
    content_type: str
    extension: str


MP3 = AudioType("mp3", "audio/mpeg", "mp3")
WAV = AudioType("wav", "audio/wav", "wav")
OGG = AudioType("ogg", "audio/ogg", "ogg")
OPUS = AudioType("opus", "audio/ogg; codecs=opus", "ogg")
FLAC = AudioType("flac", "audio/flac", "flac")
M4A = AudioType("m4a", "audio/mp4", "m4a")
AAC = AudioType("aac", "audio/aac", "aac")
WEBM = AudioType("webm", "audio/webm", "webm")
ACCEPTED = "mp3, wav, ogg/opus, m4a/aac, webm, flac"


def sniff(head: bytes) -> AudioType | None:
    """The audio type from the first bytes, never from the filename or the client's content type."""
    if head.startswith(b"ID3"):
        return MP3
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"OggS":
        return OPUS if b"OpusHead" in head[:SNIFF_BYTES] else OGG
    if head[:4] == b"fLaC":
        return FLAC
    if head[4:8] == b"ftyp":
        return M4A
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return WEBM
    if len(head) >= 4 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS: sync 12 bits, layer 00
            return AAC
        if head[1] & 0xE0 == 0xE0 and (head[1] >> 1) & 0x03 != 0 and (head[2] >> 4) not in (0x0, 0xF):
            return MP3  # MPEG audio frame: sync 11 bits, layer != reserved, a valid bitrate index
    return None


class CorruptAudio(ValueError):
    """The file is damaged in a way the user can act on (re-upload, re-export)."""


def probe_duration(path: Path) -> float | None:
    """Container duration in seconds, or None when the container does not say (never raises)."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if container.duration is not None:
                return container.duration / 1_000_000
            stream = next(iter(container.streams.audio), None)
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    except Exception:  # noqa: BLE001 - an unreadable file has no known duration; the job reports it
        return None
    return None


def check_integrity(path: Path, fmt: str) -> None:
    """Structural checks that decoders skip: a truncated Ogg or WAV decodes 'fine' but silently loses the end."""
    if fmt in ("ogg", "opus"):
        _check_ogg(path)
    elif fmt == "wav":
        _check_wav(path)


def _check_ogg(path: Path) -> None:
    size = path.stat().st_size
    pos = 0
    last_flags = 0
    pages = 0
    with path.open("rb") as fh:
        while pos < size:
            fh.seek(pos)
            header = fh.read(27)
            if len(header) < 27 or header[:4] != b"OggS":
                raise CorruptAudio(f"the Ogg file is damaged or truncated at byte {pos} (page {pages + 1})")
            nsegs = header[26]
            table = fh.read(nsegs)
            if len(table) < nsegs:
                raise CorruptAudio(f"the Ogg file is truncated: page {pages + 1} header is incomplete")
            end = pos + 27 + nsegs + sum(table)
            if end > size:
                raise CorruptAudio(
                    f"the Ogg file is truncated: page {pages + 1} needs {end - pos} bytes but the file ends at {size}"
                )
            last_flags = header[5]
            pages += 1
            pos = end
    if pages == 0:
        raise CorruptAudio("the Ogg file holds no pages")
    if not last_flags & 0x04:
        raise CorruptAudio("the Ogg file is truncated: its last page is not marked as the end of the stream")


def _check_wav(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        riff = fh.read(12)
        if len(riff) < 12:
            raise CorruptAudio("the WAV file is truncated: no RIFF header")
        declared = struct.unpack("<I", riff[4:8])[0]
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                streamed = chunk_size in (0, 0xFFFFFFFF) or declared in (0, 0xFFFFFFFF)
                if not streamed and pos + 8 + chunk_size > size:
                    raise CorruptAudio(
                        f"the WAV file is truncated: its data chunk declares {chunk_size} bytes, "
                        f"{size - pos - 8} are present"
                    )
                return
            pos += 8 + chunk_size + (chunk_size & 1)
    raise CorruptAudio("the WAV file has no audio data chunk")
