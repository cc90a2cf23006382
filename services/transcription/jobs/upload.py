"""Streaming multipart upload: the audio goes chunk by chunk to a temp file, sniffed and size-checked on the way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from services.transcription.jobs.audio import ACCEPTED, SNIFF_BYTES, AudioType, sniff
from services.transcription.jobs.errors import AudioTooLarge, BadUpload, NotAudio
from services.transcription.jobs.storage import FileStore

MAX_FIELD_BYTES = 4096
MAX_PARTS = 12
FORM_OVERHEAD = 64 * 1024


@dataclass
class UploadedAudio:
    path: Path
    size: int
    audio_type: AudioType
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)


class _State:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.parts = 0


def _callbacks(st: _State) -> dict[str, Any]:
    def on_part_begin() -> None:
        st.headers = {}
        st.parts += 1

    def on_header_field(data: bytes, start: int, end: int) -> None:
        st.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        st.header_value += data[start:end]

    def on_header_end() -> None:
        st.headers[st.header_field.lower()] = st.header_value
        st.header_field = st.header_value = b""

    def on_headers_finished() -> None:
        _, params = parse_options_header(st.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        st.events.append(("begin", (name, filename.decode("utf-8", "replace") if filename is not None else None)))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        st.events.append(("data", bytes(data[start:end])))

    def on_part_end() -> None:
        st.events.append(("end", None))

    return {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }


async def receive_upload(request: Request, store: FileStore, max_bytes: int) -> UploadedAudio:
    """Parse the multipart body without holding it in memory; 413/415 as soon as the bytes say so."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise NotAudio("send multipart/form-data with the audio in a 'file' part")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadUpload("multipart body without a boundary")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes + FORM_OVERHEAD:
        raise AudioTooLarge(f"the upload is {int(length)} bytes; the limit is {max_bytes} bytes")

    st = _State()
    parser = MultipartParser(boundary, _callbacks(st))
    temp = store.temp_path()
    fh = None
    current: tuple[str, str | None] | None = None
    field_buf = bytearray()
    head = bytearray()
    size = 0
    audio_type: AudioType | None = None
    filename: str | None = None
    fields: dict[str, str] = {}
    got_file = False

    def check_head(final: bool) -> None:
        nonlocal audio_type
        if audio_type is None and (len(head) >= SNIFF_BYTES or final):
            audio_type = sniff(bytes(head))
            if audio_type is None:
                raise NotAudio(f"the file is not audio we accept ({ACCEPTED}); its bytes decide, not its name")

    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            parser.write(chunk)
            if st.parts > MAX_PARTS:
                raise BadUpload(f"too many form parts (max {MAX_PARTS})")
            events, st.events = st.events, []
            for kind, value in events:
                if kind == "begin":
                    current = value
                    if current[0] == "file":
                        if got_file:
                            raise BadUpload("send exactly one 'file' part")
                        got_file = True
                        filename = (current[1] or "")[:300] or None
                        fh = await asyncio.to_thread(temp.open, "wb")
                    field_buf.clear()
                elif kind == "data" and current is not None:
                    if current[0] == "file":
                        size += len(value)
                        if size > max_bytes:
                            raise AudioTooLarge(f"the audio is larger than the limit of {max_bytes} bytes")
                        if len(head) < SNIFF_BYTES:
                            head.extend(value[: SNIFF_BYTES - len(head)])
                            check_head(False)
                        await asyncio.to_thread(fh.write, value)
                    else:
                        field_buf.extend(value)
                        if len(field_buf) > MAX_FIELD_BYTES:
                            raise BadUpload(f"form field {current[0]!r} is longer than {MAX_FIELD_BYTES} bytes")
                elif kind == "end" and current is not None:
                    if current[0] == "file":
                        check_head(True)
                        await asyncio.to_thread(fh.close)
                    elif current[0]:
                        fields[current[0]] = field_buf.decode("utf-8", "replace").strip()
                    current = None
        parser.finalize()
        if not got_file:
            raise BadUpload("the form has no 'file' part")
        if size == 0 or audio_type is None:
            raise NotAudio("the file is empty")
        return UploadedAudio(path=temp, size=size, audio_type=audio_type, filename=filename, fields=fields)
    except ClientDisconnect:
        _discard(fh, temp)
        raise BadUpload("the client disconnected during the upload") from None
    except FormParserError as exc:  # a part without headers, a broken header line, ...
        _discard(fh, temp)
        raise BadUpload(f"the multipart body is malformed: {exc}") from None
    except BaseException:
        _discard(fh, temp)
        raise


def _discard(fh, temp: Path) -> None:
    if fh is not None and not fh.closed:
        fh.close()
    temp.unlink(missing_ok=True)
